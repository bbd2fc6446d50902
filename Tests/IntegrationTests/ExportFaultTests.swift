import Checkpoints
import Foundation
import Logging
import Bridge
import Commands
import Observability
import Service
import Rollup
import Testing
import TestSupport

/// The receiver's answers, scripted for this test's own endpoint scope (`/s/<id>/v1/metrics`), so
/// tests running in parallel never consume each other's scripted failures.
@Suite("Receiver faults during a pass")
struct ExportFaultTests {
    static func scoped(_ s: Scenario, script: [[String: Any]], default entry: [String: Any]? = nil) throws -> [String: String] {
        var control: [String: Any] = ["script": script]
        if let entry { control["default"] = entry }
        try Receiver.control(scope: s.receiverScope, control)
        return ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": Receiver.metricsEndpoint(scope: s.receiverScope)]
    }

    /// A pipeline file of one pipeline, `name`: the shipped requests query as the Sum
    /// `NAME.requests`, with `limits` (YAML lines of the pipeline). Returns the file's path.
    static func requestsPipeline(_ name: String, limits: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Services.root + "/queries/requests.sql", toPath: dir.path + "/requests.sql")
        try """
            pipelines:
              - name: \(name)
                query: requests.sql
                \(limits)
                metrics:
                  - metric_name: \(name).requests
                    data_type: sum
                    value_column: requests
                    attribute_columns: [gen_ai.provider.name, gen_ai.request.model, portkey.workspace,
                                        http.response.status_code, portkey.cache_status]
            """.write(toFile: dir.path + "/bridge.yaml", atomically: true, encoding: .utf8)
        return dir.path + "/bridge.yaml"
    }

    /// The rollup exports that reached the test's scope (the self-telemetry request each run
    /// sends after its passes left out).
    static func attempts(_ s: Scenario) throws -> [[String: Any]] {
        try Receiver.records(scope: s.receiverScope).filter { !Receiver.isSelfTelemetry(record: $0) }
    }

    @Test("partial success: the pass succeeds, the rejected count and message go to the run record", .timeLimit(.minutes(10)))
    func partialSuccess() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-08T10:00:00Z", end: "2026-03-08T10:10:00Z")
        let extra = try Self.scoped(s, script: [], default: ["partial_success": ["rejected_data_points": 3, "error_message": "3 points had unknown units"]])
        let summaries = try s.bridge(s.environment(temporality: "delta", startAt: "2026-03-08T10:00:00Z", extra: extra), now: ns("2026-03-08T10:15:00Z"))
            .run(only: ["requests"])
        #expect(summaries.first?.status == .ok)
        #expect(summaries.first?.pointsRejected == 3 * Int64(summaries.first?.batches ?? 0))
        let run = try #require(try s.store().recentRuns(pipeline: "requests", limit: 1).first)
        #expect(run.pointsRejected == summaries.first?.pointsRejected)
        #expect(run.rejectionMessage?.contains("3 points had unknown units") == true)
        #expect(try s.store().checkpoint(pipeline: "requests").map { $0.watermark.unixNanoseconds } == ns("2026-03-08T10:13:00Z"))
    }

    @Test("400 fails the pass at once with the receiver's message; the watermark stays", .timeLimit(.minutes(10)))
    func rejected() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-08T10:00:00Z", end: "2026-03-08T10:10:00Z")
        let extra = try Self.scoped(s, script: [["status": 400, "message": "metric name not allowed"]])
        let summaries = try s.bridge(s.environment(startAt: "2026-03-08T10:00:00Z", extra: extra), now: ns("2026-03-08T10:15:00Z"))
            .run(only: ["requests"])
        #expect(summaries.first?.status == .failed)
        #expect(summaries.first?.error?.contains("metric name not allowed") == true)
        #expect(summaries.first?.error?.contains("HTTP 400") == true)
        #expect(try Self.attempts(s).count == 1, "a 400 is not retried")
        #expect(try s.store().checkpoint(pipeline: "requests").map { $0.watermark.unixNanoseconds } == ns("2026-03-08T10:00:00Z"))
        #expect(try s.store().recentRuns(pipeline: "requests", limit: 1).first?.error?.contains("metric name not allowed") == true)
    }

    @Test("a pipeline stuck on a refused request shows in checkpoints and validate with the message, since when and the remedy; --skip-ahead unwedges it and records the gap",
          .timeLimit(.minutes(10)))
    func wedged() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-08T10:00:00Z", end: "2026-03-08T10:10:00Z")
        let extra = try Self.scoped(s, script: [], default: ["status": 400, "message": "sample too old for the out-of-order window"])
        let env = s.environment(startAt: "2026-03-08T10:00:00Z", extra: extra)
        let first = try s.bridge(env, now: ns("2026-03-08T10:15:00Z")).run(only: ["requests"])
        let second = try s.bridge(env, now: ns("2026-03-08T10:16:00Z")).run(only: ["requests"])
        #expect(first.first?.status == .failed && second.first?.status == .failed)
        let store = try s.store()
        let status = try #require(try store.statuses().first { $0.pipeline == "requests" })
        let wedge = try #require(Wedge(status))
        let firstRun = try #require(try store.recentRuns(pipeline: "requests").last)
        #expect(wedge.since == firstRun.startedAt, "stuck since the first failed run")
        #expect(wedge.message.contains("HTTP 400") && wedge.message.contains("sample too old for the out-of-order window"))
        #expect(wedge.remedy.contains("max_point_age") && wedge.remedy.contains("checkpoints rewind requests --skip-ahead"))

        var checks: [ValidationCheck] = []
        _ = Bridge.validate(environment: env, logger: Logger(label: "it"), now: { ns("2026-03-08T10:17:00Z") }, output: { checks.append($0) })
        let check = try #require(checks.first { $0.name == "pipeline requests export" })
        #expect(check.status == .failed)
        #expect(check.detail.contains("stuck since \(wedge.since.iso8601)") && check.detail.contains("sample too old") && check.detail.contains("--skip-ahead"))
        #expect(!checks.contains { $0.name == "pipeline tokens export" }, "only the stuck pipeline")

        // --skip-ahead alone: to the end of the last closed bucket, the gap recorded.
        let bridge = try s.bridge(env, now: ns("2026-03-08T10:17:00Z"))
        let result = try bridge.rewind(pipeline: "requests", to: nil, skipAhead: true)
        #expect(result.watermark == ns("2026-03-08T10:15:00Z"))
        let gap = try #require(try store.gaps(pipeline: "requests").first)
        #expect(gap.reason == "skip-ahead" && gap.buckets == 15 && gap.points == nil)
        #expect(gap.rangeStart.unixNanoseconds == ns("2026-03-08T10:00:00Z") && gap.rangeEnd.unixNanoseconds == ns("2026-03-08T10:15:00Z"))
        // The receiver takes points again: the next pass succeeds and the wedge is gone.
        _ = try Self.scoped(s, script: [], default: ["status": 200])
        let after = try s.bridge(env, now: ns("2026-03-08T10:18:00Z")).run(only: ["requests"])
        #expect(after.first?.status == .ok && after.first?.watermarkAfter == ns("2026-03-08T10:16:00Z"))
        #expect(try store.statuses().first { $0.pipeline == "requests" }.flatMap(Wedge.init) == nil)
    }

    @Test("503 with Retry-After, then 429, then success: one pass, nothing lost or repeated", .timeLimit(.minutes(10)))
    func retried() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-08T10:00:00Z", end: "2026-03-08T10:10:00Z")
        let extra = try Self.scoped(s, script: [["status": 503, "retry_after": "1"], ["status": 429, "retry_after": "0"]])
        let env = s.environment(temporality: "delta", startAt: "2026-03-08T10:00:00Z", extra: extra.merging(["BRIDGE_EXPORT_MAX_ELAPSED": "30"]) { $1 })
        let started = Date()
        let summaries = try s.bridge(env, now: ns("2026-03-08T10:15:00Z")).run(only: ["requests"])
        #expect(summaries.first?.status == .ok)
        #expect(Date().timeIntervalSince(started) >= 1, "Retry-After: 1 was honoured")
        let attempts = try Self.attempts(s)
        #expect(attempts.map { $0["status"] as? Int } == [503, 429] + Array(repeating: 200, count: attempts.count - 2))
        let points = try s.received()
        let expected = Expectations.points(rows: try s.rawRows(), from: ns("2026-03-08T10:00:00Z"), until: ns("2026-03-08T10:13:00Z"), cumulative: false)
            .filter { $0.metric == "portkey.requests" }
        #expect(Expectations.check(received: points, expected: expected).isEmpty)
    }
}

extension ExportFaultTests {
    /// A cumulative pass that fails after some commits leaves its series log merged: series_state
    /// alone is current between passes (what an earlier bridge, or an operator's SQL, reads), and
    /// the next pass goes on from it with every total exact.
    @Test("a cumulative pass that fails mid-way merges its series log; the next one goes on exactly", .timeLimit(.minutes(10)))
    func failedPassSettlesItsSeriesLog() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-12T10:00:00Z", end: "2026-03-12T10:10:00Z", ratePerMinute: 30)
        let config = try Self.requestsPipeline("settle", limits: "max_points_per_request: 40")
        let extra = try Self.scoped(s, script: [["status": 200], ["status": 200], ["status": 200], ["status": 400, "message": "no"]])
        var env = s.environment(temporality: "cumulative", startAt: "2026-03-12T10:00:00Z", extra: extra)
        env["BRIDGE_CONFIG"] = config
        let now = ns("2026-03-12T10:15:00Z")
        let failed = try s.bridge(env, now: now).run()
        #expect(failed.first?.status == .failed)
        #expect(failed.first?.batches == 3)
        let store = try s.store()
        #expect(try store.connection.query("SELECT count(*) AS n FROM otel_bridge.series_log").single().int64("n") == 0)
        let plain = try store.connection.query("""
            SELECT count(*) AS n FROM otel_bridge.series_state s JOIN otel_bridge.series_current c USING (pipeline, metric, series_id)
            WHERE s.int_total IS NOT DISTINCT FROM c.int_total AND s.last_bucket_end = c.last_bucket_end
            """).single().int64("n")
        #expect(plain > 0)
        #expect(plain == Int64(try store.loadSeries(pipeline: "settle").count))

        let done = try s.bridge(env, now: now).run()
        #expect(done.first?.status == .ok)
        let expected = Expectations.points(rows: try s.rawRows(), from: ns("2026-03-12T10:00:00Z"), until: ns("2026-03-12T10:13:00Z"), cumulative: true)
            .filter { $0.metric == "portkey.requests" }
            .map { p -> ReceivedPoint in var q = p; q.metric = "settle.requests"; return q }
        #expect(Expectations.check(received: try s.received(), expected: expected).isEmpty, "every point exactly once, every total exact")
    }

    @Test("a batch too large for one request is split on bucket boundaries; a failure re-sends no acknowledged part", .timeLimit(.minutes(10)))
    func splitBatches() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-11T10:00:00Z", end: "2026-03-11T10:10:00Z", ratePerMinute: 30)
        // The shipped requests query with a tiny byte limit and a large point limit, so every batch
        // encodes past the limit and must be split.
        let config = try Self.requestsPipeline("split", limits: "max_points_per_request: 100000\n    max_request_bytes: 8000")
        // The third request fails with 400: the first two parts stay committed.
        let extra = try Self.scoped(s, script: [["status": 200], ["status": 200], ["status": 400, "message": "no"]])
        var env = s.environment(temporality: "delta", startAt: "2026-03-11T10:00:00Z", extra: extra)
        env["BRIDGE_CONFIG"] = config
        let now = ns("2026-03-11T10:15:00Z")
        let failed = try s.bridge(env, now: now).run()
        #expect(failed.first?.status == .failed)
        #expect(failed.first?.batches == 2)
        let afterFailure = try s.received()
        let committed = try #require(try s.store().checkpoint(pipeline: "split")).watermark
        #expect(committed.unixNanoseconds > ns("2026-03-11T10:00:00Z"), "the acknowledged parts were committed")
        #expect(afterFailure.allSatisfy { $0.time <= committed.unixNanoseconds }, "everything acknowledged lies before the watermark")

        let done = try s.bridge(env, now: now).run()
        #expect(done.first?.status == .ok)
        #expect(done.first?.batches ?? 0 > 1, "split again on bucket boundaries")
        let all = try s.received()
        let expected = Expectations.points(rows: try s.rawRows(), from: ns("2026-03-11T10:00:00Z"), until: ns("2026-03-11T10:13:00Z"), cumulative: false)
            .filter { $0.metric == "portkey.requests" }
            .map { p -> ReceivedPoint in var q = p; q.metric = "split.requests"; return q }
        #expect(Expectations.check(received: all, expected: expected).isEmpty, "every point exactly once")
        let run = try #require(try s.store().recentRuns(pipeline: "split", limit: 1).first)
        #expect(run.batchesAcknowledged == done.first?.batches)
    }
}

