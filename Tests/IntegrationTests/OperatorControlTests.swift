import Checkpoints
import Foundation
import Postgres
import Bridge
import Commands
import Observability
import Service
import Rollup
import Testing
import TestSupport

@Suite("Locks and rewinds")
struct OperatorControlTests {
    @Test("a pipeline locked by another run is skipped, recorded as skipped, and exported by the next run", .timeLimit(.minutes(10)))
    func lockedPipelineIsSkipped() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-06T10:00:00Z", end: "2026-03-06T10:20:00Z")
        let env = s.environment(temporality: "delta", startAt: "2026-03-06T10:00:00Z")
        let now = ns("2026-03-06T10:25:00Z")
        // Another process holds the lock of `requests` (same key, its own session).
        let other = try s.store()
        _ = try other.migrate()
        #expect(try other.tryLock(pipeline: "requests"))
        let first = try s.bridge(env, now: now).run()
        #expect(first.first { $0.pipeline == "requests" }?.status == .skipped)
        #expect(first.filter { $0.pipeline != "requests" }.allSatisfy { $0.status == .ok })
        #expect(try s.received().allSatisfy { $0.metric != "portkey.requests" })
        let runs = try other.recentRuns(pipeline: "requests")
        #expect(runs.first?.status == .skipped)
        #expect(try other.checkpoint(pipeline: "requests") == nil, "a skipped pipeline's checkpoint is untouched")

        #expect(try other.unlock(pipeline: "requests"))
        let second = try s.bridge(env, now: now).run()
        #expect(second.first { $0.pipeline == "requests" }?.status == .ok)
        let requests = try s.received().filter { $0.metric == "portkey.requests" }
        #expect(!requests.isEmpty)
        let perPoint = Dictionary(grouping: requests, by: { "\($0.seriesKey)|\($0.time)" })
        #expect(perPoint.values.allSatisfy { $0.count == 1 })
    }

    @Test("rewind re-exports from a time; cumulative series restart under the new start time", .timeLimit(.minutes(10)))
    func rewindCumulative() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-07T10:00:00Z", end: "2026-03-07T10:30:00Z")
        let env = s.environment(startAt: "2026-03-07T10:00:00Z")
        let now = ns("2026-03-07T10:35:00Z")
        _ = try s.bridge(env, now: now).run(only: ["requests"])
        let firstSeq = try s.received().map(\.request).max() ?? 0

        let bridge = try s.bridge(env, now: now)
        let result = try bridge.rewind(pipeline: "requests", to: ns("2026-03-07T10:20:30Z"))
        #expect(result.watermark == ns("2026-03-07T10:20:00Z"), "aligned down to the step")
        #expect(result.seriesReset > 0)
        let store = try s.store()
        #expect(try store.loadSeries(pipeline: "requests").isEmpty)

        _ = try s.bridge(env, now: now).run(only: ["requests"])
        let again = try s.received().filter { $0.request > firstSeq }
        #expect(!again.isEmpty)
        #expect(again.allSatisfy { $0.time > ns("2026-03-07T10:20:00Z") && $0.time <= ns("2026-03-07T10:33:00Z") })
        #expect(again.allSatisfy { $0.start >= ns("2026-03-07T10:20:00Z") }, "no re-exported point reuses an old start time")
        let rows = try s.rawRows()
        let expected = Expectations.points(rows: rows, from: ns("2026-03-07T10:20:00Z"), until: ns("2026-03-07T10:33:00Z"), cumulative: true)
            .filter { $0.metric == "portkey.requests" }
        #expect(Expectations.check(received: again, expected: expected).isEmpty)
    }

    @Test("rewind of an unknown pipeline is a usage error")
    func rewindUnknown() throws {
        let s = try Scenario()
        #expect {
            _ = try s.bridge(s.environment(startAt: "2026-03-07T10:00:00Z"), now: 0).rewind(pipeline: "nope", to: 0)
        } throws: { ($0 as? BridgeError)?.code == .usage }
    }
}
