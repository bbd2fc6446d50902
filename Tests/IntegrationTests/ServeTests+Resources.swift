import Checkpoints
import Foundation
import Postgres
import Testing
import TestSupport

/// `serve` holds its resources: each schedule keeps its Postgres connection (made again once it
/// broke) and its exporter across passes, and the checkpoint schema is checked once, at start.
extension ServeTests {
    /// The backend pids of the sessions named `application` (the bridge's, by the
    /// `application_name` in its connection string).
    static func backends(_ s: Scenario, application: String) throws -> [Int64] {
        let store = try s.store()
        defer { store.connection.close() }
        return try store.connection.query("SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid", [application])
            .map { row throws in try row.int64("pid") }
    }

    /// The scenario's checkpoint database with `application_name` set.
    static func databaseURL(_ s: Scenario, application: String) -> String {
        s.postgresURL + (s.postgresURL.contains("?") ? "&" : "?") + "application_name=" + application
    }

    @Test("serve keeps a schedule's Postgres connection across passes, checks the schema once, and reconnects after its session is killed",
          .timeLimit(.minutes(10)))
    func keepsItsConnection() async throws {
        let s = try Scenario()
        let t0 = Self.nowSeconds / 2 * 2
        try s.seed(start: Self.iso(t0 - 20), end: Self.iso(t0 + 20), ratePerMinute: 300)
        let config = try Self.pipelineFile(s, pipelines: [("kept", Self.sql())])
        let application = "serve-kept-" + s.id
        var env = Self.environment(s, config: config, startAt: t0 - 20, extra: ["LOG_LEVEL": "debug"])
        env["CHECKPOINT_DATABASE_URL"] = Self.databaseURL(s, application: application)
        let server = try Server(env, name: "kept")
        func watermark() -> Int64 { Self.watermark(s, "kept") ?? 0 }

        // After the first passes: one session (the one that checked the schema at start is closed).
        try #require(await Self.waitFor(60) { watermark() >= (t0 + 2) * 1_000_000_000 }, "\(server.output)")
        var first: [Int64] = []
        let single = try await Self.waitFor(30) { first = try Self.backends(s, application: application); return first.count == 1 }
        #expect(single, "one session for the one schedule: \(first)")
        // Two more buckets close, each a pass: the same session.
        let w1 = watermark()
        try #require(await Self.waitFor(60) { watermark() >= w1 + 4_000_000_000 }, "\(server.output)")
        #expect(try Self.backends(s, application: application) == first, "the session of the first pass serves the later ones")

        // Kill the session: the next pass connects again, and the pipeline goes on.
        let killed = try #require(first.first)
        let admin = try s.store()
        defer { admin.connection.close() }
        #expect(try admin.connection.query("SELECT pg_terminate_backend($1::int) AS done", [killed]).single().bool("done"))
        let w2 = watermark()
        try #require(await Self.waitFor(60) { watermark() >= w2 + 4_000_000_000 }, "\(server.output)")
        var second: [Int64] = []
        let replaced = try await Self.waitFor(30) { second = try Self.backends(s, application: application); return second.count == 1 }
        #expect(replaced && second != first, "a new session replaced the killed one: \(first) → \(second)")
        #expect(server.output.contains("closing the checkpoint store connection; the next use reconnects"))

        // Every row exported once, across the reconnect.
        try #require(await Self.waitFor(60) { watermark() >= (t0 + 20) * 1_000_000_000 }, "\(server.output)")
        let points = try Self.accepted(s).filter { $0.metric == "test.kept.requests" }
        #expect(Self.totals(points) == Int64(try s.rawRows().count), "every row counted once")
        // Self-telemetry is still reported after each pass: a request per pass. Counted after the
        // passes, so only the last of them may still be reporting.
        let passes = try admin.recentRuns(pipeline: "kept", limit: 1000).filter { $0.finishedAt != nil }.count
        let reports = try Receiver.records(scope: Self.scope(s)).filter { Receiver.isSelfTelemetry(record: $0) }.count
        #expect(passes >= 4 && reports >= passes - 1, "\(reports) self-telemetry reports for \(passes) passes")

        let (status, _) = await server.stop()
        #expect(status == 0, "\(server.output)")
        // The schema's migrations were checked once, at start, not by every pass or reconnect.
        #expect(server.output.components(separatedBy: "checkpoint schema checked").count - 1 == 1, "\(server.output)")
    }

    @Test("serve keeps a schedule's exporter across passes: once a pass spent the retry budget, the next passes make one attempt",
          .timeLimit(.minutes(10)))
    func keepsItsExporter() async throws {
        let s = try Scenario()
        let t0 = Self.nowSeconds / 2 * 2
        try s.seed(start: Self.iso(t0 - 10), end: Self.iso(t0 + 30), ratePerMinute: 300)
        // Every export is refused as retryable until the test says otherwise.
        try Receiver.control(scope: Self.scope(s), ["default": ["status": 503, "message": "down for the test"]])
        defer { try? Receiver.control(scope: Self.scope(s), ["default": [:] as [String: Any]]) }
        let config = try Self.pipelineFile(s, pipelines: [("down", Self.sql())])
        let server = try Server(Self.environment(s, config: config, startAt: t0 - 10, extra: [
            "BRIDGE_EXPORT_MAX_ELAPSED": "2", "BRIDGE_SELF_TELEMETRY": "false",
        ]), name: "down")
        let store = try s.store()
        defer { store.connection.close() }
        func failed() -> [Run] {
            ((try? store.recentRuns(pipeline: "down", limit: 1000)) ?? []).filter { $0.status == .failed }.sorted { $0.id < $1.id }
        }
        try #require(await Self.waitFor(90) { failed().count >= 3 }, "\(server.output)")
        let runs = failed()
        // The first pass spent its budget; the passes after it, with the same exporter, made one attempt each.
        #expect(runs[0].error?.contains("down for the test") == true)
        #expect(runs[0].error?.contains("an earlier export already spent its whole retry budget") == false, "\(runs[0].error ?? "")")
        for run in runs.dropFirst() {
            #expect(run.error?.contains("an earlier export already spent its whole retry budget on this endpoint, so this one made a single attempt") == true,
                    "run \(run.id): \(run.error ?? "")")
        }
        #expect(Self.watermark(s, "down") == (t0 - 10) * 1_000_000_000, "nothing acknowledged, nothing committed")

        // The receiver is back: the next pass's single attempt is acknowledged and the pipeline catches up.
        try Receiver.control(scope: Self.scope(s), ["default": ["status": 200]])
        #expect(try await Self.waitFor(60) { (Self.watermark(s, "down") ?? 0) >= (t0 + 2) * 1_000_000_000 }, "\(server.output)")
        #expect(await server.stop().status == 0, "\(server.output)")
    }

    @Test("with the GenAI traces on, serve holds one session per schedule, the same over their passes", .timeLimit(.minutes(10)))
    func oneSessionPerSchedule() async throws {
        let s = try Scenario()
        let t0 = Self.nowSeconds / 2 * 2
        try s.seed(start: Self.iso(t0 - 20), end: Self.iso(t0), ratePerMinute: 120)
        let config = try Self.pipelineFile(s, pipelines: [("rollup", Self.sql())])
        let application = "serve-two-" + s.id
        var env = Self.environment(s, config: config, startAt: t0 - 20, extra: [
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true",
            "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": Receiver.tracesBase(scope: s.receiverScope),
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_LAG": "1",  // a traces pass every 5 s
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": Services.root + "/queries/gen_ai_traces.sql",
        ])
        env["CHECKPOINT_DATABASE_URL"] = Self.databaseURL(s, application: application)
        let server = try Server(env, name: "two")
        let store = try s.store()
        defer { store.connection.close() }
        func tracePasses() -> Int {
            ((try? store.recentRuns(pipeline: "gen_ai_traces", limit: 1000)) ?? []).filter { $0.finishedAt != nil && $0.status == .ok }.count
        }
        try #require(await Self.waitFor(60) { tracePasses() >= 1 && (Self.watermark(s, "rollup") ?? 0) >= t0 * 1_000_000_000 }, "\(server.output)")
        var first: [Int64] = []
        let two = try await Self.waitFor(30) { first = try Self.backends(s, application: application); return first.count == 2 }
        #expect(two, "a session for the rollup's schedule and one for the traces': \(first)")
        // Two more traces passes and rollup passes: the same two sessions.
        let passes = tracePasses()
        try #require(await Self.waitFor(60) { tracePasses() >= passes + 2 }, "\(server.output)")
        #expect(try Self.backends(s, application: application) == first)
        #expect(await server.stop().status == 0, "\(server.output)")
    }

    @Test("with OTEL_PUSH_ENABLED=false and the traces on, serve runs the traces schedule alone",
          .timeLimit(.minutes(10)))
    func tracesWithoutMetrics() async throws {
        let s = try Scenario()
        let t0 = Self.nowSeconds / 2 * 2
        try s.seed(start: Self.iso(t0 - 20), end: Self.iso(t0), ratePerMinute: 120)
        let rows = try s.rawRows().count
        let config = try Self.pipelineFile(s, pipelines: [("rollup", Self.sql())])
        let env = Self.environment(s, config: config, startAt: t0 - 20, extra: [
            "OTEL_PUSH_ENABLED": "false",
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true",
            "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": Receiver.tracesBase(scope: s.receiverScope),
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_LAG": "1",
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": Services.root + "/queries/gen_ai_traces.sql",
        ])
        let server = try Server(env, name: "traces-only")
        let all = try await Self.waitFor(60) { ((try? Receiver.spans(scope: s.receiverScope)) ?? []).count >= rows }
        #expect(all, "every seeded row as a span: \(server.output)")
        #expect(try Receiver.spans(scope: s.receiverScope).count == rows)
        #expect(Self.watermark(s, "rollup") == nil, "no metrics pass with OTEL_PUSH_ENABLED=false")
        #expect(await server.stop().status == 0, "\(server.output)")
    }
}
