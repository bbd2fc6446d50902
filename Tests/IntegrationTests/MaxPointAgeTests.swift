import Checkpoints
import Foundation
import Bridge
import Commands
import Observability
import Service
import Rollup
import Testing
import TestSupport

/// `max_point_age`: a backlog older than a backend takes is not sent; the watermark passes it and
/// the gap is recorded. Real ClickHouse, Postgres and receiver; expectations from the raw rows.
@Suite("Maximum point age")
struct MaxPointAgeTests {
    static let start = "2026-03-11T10:00:00Z"
    /// Rows 10:00-13:00; at 13:05 (lag 2 min) buckets up to 13:03 are closed: a 3 h backlog.
    static let now = ns("2026-03-11T13:05:00Z")
    /// With max_point_age 1 h, buckets ending at or after 12:05 are sent: from 12:04.
    static let sendFrom = ns("2026-03-11T12:04:00Z")
    static let closed = ns("2026-03-11T13:03:00Z")

    @Test("too_old: drop (BRIDGE_MAX_POINT_AGE=1h): only buckets ending within the hour arrive, the gap has the right counts, cumulative series start again at the first point sent",
          .timeLimit(.minutes(10)))
    func drop() throws {
        let s = try Scenario()
        try s.seed(start: Self.start, end: "2026-03-11T13:00:00Z")
        let rows = try s.rawRows()
        let env = s.environment(startAt: Self.start, extra: ["BRIDGE_MAX_POINT_AGE": "1h"])
        let summaries = try s.bridge(env, now: Self.now).run()
        #expect(summaries.count == 4 && summaries.allSatisfy { $0.status == .ok && $0.watermarkAfter == Self.closed })
        let received = try s.received()
        #expect(!received.isEmpty && received.allSatisfy { $0.time >= Self.sendFrom + 60_000_000_000 }, "no point older than an hour")
        #expect(received.allSatisfy { $0.start >= Self.sendFrom }, "cumulative series start again at the first point sent")
        // The totals are those of the buckets sent.
        let expected = Expectations.points(rows: rows, from: Self.sendFrom, until: Self.closed, cumulative: true)
        let problems = Expectations.check(received: received, expected: expected)
        #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(5))")

        // The gap: 124 buckets of the requests pipeline, the points they would have been.
        let skippedPoints = Expectations.points(rows: rows, from: ns(Self.start), until: Self.sendFrom, cumulative: false)
            .filter { $0.metric == "portkey.requests" }.count
        let store = try s.store()
        let gap = try #require(try store.gaps(pipeline: "requests").first)
        #expect(gap.rangeStart.unixNanoseconds == ns(Self.start) && gap.rangeEnd.unixNanoseconds == Self.sendFrom)
        #expect(gap.buckets == 124 && gap.reason == "max_point_age" && gap.policy == "drop")
        #expect(gap.points == Int64(skippedPoints) && gap.rows == Int64(skippedPoints), "one result row per series and bucket")
        #expect(summaries.first { $0.pipeline == "requests" }?.pointsSkipped == Int64(skippedPoints))
        #expect(try store.statuses().first { $0.pipeline == "requests" }?.pointsSkipped24h == Int64(skippedPoints))
        let telemetry = try s.receivedSelfTelemetry().filter {
            $0.metric == "otel_bridge.points.skipped" && $0.attributes["otel_bridge.pipeline"] == "requests"
        }
        #expect(telemetry.map(\.value) == [.int(Int64(skippedPoints))])
        #expect(telemetry.first?.attributes["otel_bridge.skip.reason"] == "max_point_age")

        // The next pass has nothing too old: no new gap.
        _ = try s.bridge(env, now: Self.now + 60_000_000_000).run()
        #expect(try store.gaps(pipeline: "requests").count == 1)
    }

    @Test("too_old: fold (YAML): the skipped values go into the first point sent, so the totals equal the table",
          .timeLimit(.minutes(10)), arguments: ["delta", "cumulative"])
    func fold(temporality: String) throws {
        let s = try Scenario()
        try s.seed(start: Self.start, end: "2026-03-11T13:00:00Z")
        let env = s.environment(temporality: temporality, startAt: Self.start,
                                extra: ["BRIDGE_CONFIG": try s.config(defaults: ["max_point_age: 1h", "too_old: fold"])])
        let summaries = try s.bridge(env, now: Self.now).run()
        #expect(summaries.count == 4 && summaries.allSatisfy { $0.status == .ok && $0.watermarkAfter == Self.closed && $0.pointsSkipped > 0 })
        let received = try s.received()
        #expect(!received.isEmpty && received.allSatisfy { $0.time >= Self.sendFrom + 60_000_000_000 })
        let expected = Expectations.totals(Expectations.points(rows: try s.rawRows(), from: ns(Self.start), until: Self.closed, cumulative: false),
                                           cumulative: false)
        let problems = Expectations.checkTotals(received: Expectations.totals(received, cumulative: temporality == "cumulative"), expected: expected)
        #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(5))")
        let gap = try #require(try s.store().gaps(pipeline: "tokens").first)
        #expect(gap.policy == "fold" && gap.buckets == 124)
    }
}
