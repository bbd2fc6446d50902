import Checkpoints
import CurlHTTP
import Foundation
import Testing
import TestSupport
import UTCTime
#if canImport(Glibc)
import Glibc
#endif

/// `otel-bridge serve` as Kubernetes runs it: the real binary against the real services, stopped
/// with real signals. Every wait is on observed progress (a watermark, a held export), with a
/// generous deadline; nothing depends on how fast this machine is.
@Suite("serve", .serialized)
struct ServeTests {
    /// A running `serve` process and what it printed.
    final class Server {
        let process = Process()
        let log: URL

        init(_ environment: [String: String], name: String) throws {
            log = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("serve-\(name)-\(UInt32.random(in: 0..<UInt32.max)).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.executableURL = URL(fileURLWithPath: CommandLineTests.binary)
            process.arguments = ["serve"]
            process.environment = environment.merging(["PATH": "/usr/bin:/bin", "LOG_LEVEL": "info"]) { a, _ in a }
            process.currentDirectoryURL = URL(fileURLWithPath: Services.root)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }

        var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        /// Sends `signal` and waits for the exit; returns the status and the seconds it took.
        func stop(_ signal: Int32 = SIGTERM, within seconds: Double = 60) async -> (status: Int32?, seconds: Double) {
            let start = Date()
            kill(process.processIdentifier, signal)
            while process.isRunning && Date().timeIntervalSince(start) < seconds { try? await Task.sleep(for: .milliseconds(50)) }
            let took = Date().timeIntervalSince(start)
            if process.isRunning {
                process.interrupt()
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return (nil, took)
            }
            return (process.terminationStatus, took)
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    /// A pipeline file with short steps, so buckets close while the test watches.
    static func pipelineFile(_ s: Scenario, pipelines: [(name: String, sql: String)], step: String = "2s", lag: String = "1s") throws -> String {
        let dir = NSTemporaryDirectory() + "serve-" + s.id
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var yaml = """
            defaults:
              step: \(step)
              lag: \(lag)
              max_buckets_per_query: 1000
              max_points_per_request: 40
              late_data_check: 0
            pipelines:

            """
        for p in pipelines {
            try p.sql.write(toFile: dir + "/\(p.name).sql", atomically: true, encoding: .utf8)
            yaml += """
                  - name: \(p.name)
                    query: \(p.name).sql
                    metrics:
                      - metric_name: test.\(p.name).requests
                        data_type: sum
                        value_type: int
                        monotonic: true
                        value_column: requests
                        attribute_columns: [gen_ai.request.model]

                """
        }
        try yaml.write(toFile: dir + "/bridge.yaml", atomically: true, encoding: .utf8)
        return dir + "/bridge.yaml"
    }

    /// Requests per bucket and model.
    static func sql() -> String {
        """
        SELECT toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC') AS bucket,
               ai_model AS `gen_ai.request.model`, count() AS requests
        FROM generations
        WHERE created_at >= {window_start:DateTime64(3, 'UTC')} AND created_at < {window_end:DateTime64(3, 'UTC')}
        GROUP BY bucket, `gen_ai.request.model` ORDER BY bucket
        """
    }

    /// The sum of each cumulative series' last value.
    static func totals(_ points: [ReceivedPoint]) -> Int64 {
        var last: [String: (time: Int64, total: Int64)] = [:]
        for p in points where (last[p.seriesKey]?.time ?? 0) < p.time {
            last[p.seriesKey] = (p.time, { if case .int(let v) = p.value { v } else { 0 } }())
        }
        return last.values.reduce(0) { $0 + $1.total }
    }

    static func iso(_ seconds: Int64) -> String { UTCInstant(unixNanoseconds: seconds * 1_000_000_000).iso8601 }
    static var nowSeconds: Int64 { Int64(Date().timeIntervalSince1970) }

    /// Polls `condition` every 100 ms until it holds or `seconds` pass (sleeping, not blocking a
    /// thread the other tests need).
    static func waitFor(_ seconds: Double, _ condition: () throws -> Bool) async rethrows -> Bool {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if try condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return try condition()
    }

    /// The pipeline's watermark; nil before serve created it (or its schema).
    static func watermark(_ s: Scenario, _ pipeline: String) -> Int64? {
        guard let store = try? s.store() else { return nil }
        defer { store.connection.close() }
        guard let checkpoint = try? store.checkpoint(pipeline: pipeline) else { return nil }
        return checkpoint.watermark.unixNanoseconds
    }

    /// Accepted points of this scenario's scope, and the receiver's counters for it.
    static func accepted(_ s: Scenario) throws -> [ReceivedPoint] { try s.received() }

    static func scope(_ s: Scenario) -> String { s.receiverScope }

    static func control(_ s: Scenario) throws -> [String: Any] {
        (try Control.getJSON(Services.otlpURL + "/__control?scope=\(scope(s))") as? [String: Any]) ?? [:]
    }

    static func environment(_ s: Scenario, config: String, startAt: Int64, extra: [String: String] = [:]) -> [String: String] {
        s.environment(startAt: iso(startAt), extra: [
            "BRIDGE_CONFIG": config,
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": Receiver.metricsEndpoint(scope: scope(s)),
            "BRIDGE_HEALTH_PORT": "0",
            "BRIDGE_SHUTDOWN_TIMEOUT": "3",
        ].merging(extra) { $1 })
    }

    @Test("exports buckets as they close, and on SIGTERM mid-push exits 0 in bounded time with the watermark at the last acknowledged batch",
          .timeLimit(.minutes(10)))
    func exportsAsBucketsCloseAndStopsCleanly() async throws {
        let s = try Scenario()
        let t0 = Self.nowSeconds / 2 * 2
        // Rows from 30 s ago until 8 s ahead: the later buckets close while serve runs.
        try s.seed(start: Self.iso(t0 - 30), end: Self.iso(t0 + 8), ratePerMinute: 600)
        let config = try Self.pipelineFile(s, pipelines: [("fast", Self.sql())])
        let server = try Server(Self.environment(s, config: config, startAt: t0 - 30), name: "fast")
        // Every seeded bucket gets exported, those in the future once they close.
        let caughtUp = try await Self.waitFor(60) { (Self.watermark(s, "fast") ?? 0) >= (t0 + 8) * 1_000_000_000 }
        #expect(caughtUp, "the watermark reached the end of the seeded rows\n\(server.output)")
        let rows = try s.rawRows()
        let points = try Self.accepted(s).filter { $0.metric == "test.fast.requests" }
        #expect(Self.totals(points) == Int64(rows.count), "every row counted once")
        #expect(points.contains { $0.time >= (t0 + 4) * 1_000_000_000 }, "buckets that closed after serve started were exported")

        // Hold the next export, let new buckets close, and stop serve while it waits for the
        // receiver's answer.
        try Receiver.control(scope: Self.scope(s), ["script": [["hold": true, "hold_seconds": 60]]])
        defer { try? Receiver.control(scope: Self.scope(s), ["release": true]) }
        let t1 = Self.nowSeconds
        try s.seed(start: Self.iso(t1), end: Self.iso(t1 + 4), seed: 12, ratePerMinute: 600)
        let held = try await Self.waitFor(60) { (try Self.control(s)["held"] as? Int ?? 0) >= 1 }
        try #require(held, "an export was held\n\(server.output)")
        let before = Self.watermark(s, "fast")
        let (status, seconds) = await server.stop(SIGTERM)
        #expect(status == 0, "serve exits 0 on SIGTERM\n\(server.output)")
        #expect(seconds < 3 + 10, "within the shutdown timeout (3 s) and a margin: took \(seconds) s")
        // The held batch was never acknowledged: the watermark is where the last acknowledged
        // batch put it, before the held buckets, and past every acknowledged point.
        let after = Self.watermark(s, "fast")
        #expect(after == before)
        #expect((after ?? .max) <= t1 * 1_000_000_000 + 2_000_000_000, "the held buckets are not committed")
        #expect(try Self.accepted(s).allSatisfy { $0.time <= (after ?? 0) })
    }

    @Test("a pipeline whose receiver does not answer does not delay another's exports, and its push is abandoned at shutdown",
          .timeLimit(.minutes(10)))
    func pipelinesDoNotWaitForEachOther() async throws {
        let s = try Scenario()
        let t0 = Self.nowSeconds / 2 * 2
        try s.seed(start: Self.iso(t0 - 10), end: Self.iso(t0 + 10), ratePerMinute: 300)
        // Every export holding the slow pipeline's metric waits for an answer that never comes.
        try Receiver.control(scope: Self.scope(s), ["default": ["metric": "test.slow.requests", "hold": true, "hold_seconds": 120]])
        defer { try? Receiver.control(scope: Self.scope(s), ["default": [:] as [String: Any], "release": true]) }
        let config = try Self.pipelineFile(s, pipelines: [("slow", Self.sql()), ("fast", Self.sql())])
        let server = try Server(Self.environment(s, config: config, startAt: t0 - 10), name: "slow")
        // The fast pipeline exports buckets that close after serve started while the slow
        // pipeline's first query is still running.
        let fastMoved = try await Self.waitFor(50) { (Self.watermark(s, "fast") ?? 0) >= (t0 + 6) * 1_000_000_000 }
        #expect(fastMoved, "the fast pipeline kept its schedule\n\(server.output)")
        #expect(Self.watermark(s, "slow") == (t0 - 10) * 1_000_000_000, "the slow pipeline's first push is still unanswered")
        #expect(try (Self.control(s)["held"] as? Int ?? 0) >= 1)
        #expect(try Self.accepted(s).allSatisfy { $0.metric == "test.fast.requests" })
        let (status, seconds) = await server.stop(SIGTERM)
        #expect(status == 0, "\(server.output)")
        #expect(seconds < 3 + 10, "a push without answer is abandoned after the shutdown timeout: took \(seconds) s")
        #expect(Self.watermark(s, "slow") == (t0 - 10) * 1_000_000_000)
    }

    @Test("two replicas share the pipelines through the lock: every bucket exported exactly once", .timeLimit(.minutes(10)))
    func replicasNeverExportTwice() async throws {
        let s = try Scenario()
        let t0 = Self.nowSeconds / 2 * 2
        try s.seed(start: Self.iso(t0 - 40), end: Self.iso(t0 + 10), ratePerMinute: 600)
        let config = try Self.pipelineFile(s, pipelines: [("a", Self.sql()), ("b", Self.sql())])
        let env = Self.environment(s, config: config, startAt: t0 - 40)
        let one = try Server(env, name: "r1")
        let two = try Server(env, name: "r2")
        let end = (t0 + 10) * 1_000_000_000
        let done = try await Self.waitFor(90) {
            let a = Self.watermark(s, "a") ?? 0
            let b = Self.watermark(s, "b") ?? 0
            return a >= end && b >= end
        }
        let r1 = await one.stop(), r2 = await two.stop()
        #expect(done, "both pipelines caught up\n\(one.output)\n\(two.output)")
        #expect(r1.status == 0 && r2.status == 0)
        let rows = try s.rawRows().filter { $0.createdAt < (t0 + 10) * 1_000_000_000 }
        for pipeline in ["a", "b"] {
            let points = try Self.accepted(s).filter { $0.metric == "test.\(pipeline).requests" }
            var seen = Set<String>()
            for p in points { #expect(seen.insert("\(p.seriesKey)@\(p.time)").inserted, "\(p) exported twice") }
            // Cumulative: the last point of each series holds its total; the totals add up to the rows.
            #expect(Self.totals(points.filter { $0.time <= end }) == Int64(rows.count), "pipeline \(pipeline): every row once")
        }
        // Each replica did some of the work, or one did all of it: either way the runs say so.
        #expect(one.output.contains("serving") && two.output.contains("serving"))
    }

    @Test("the health endpoint: live, ready once the checkpoint store answered, unready during shutdown", .timeLimit(.minutes(10)))
    func health() async throws {
        let s = try Scenario()
        let t0 = Self.nowSeconds / 2 * 2
        try s.seed(start: Self.iso(t0 - 10), end: Self.iso(t0), ratePerMinute: 60)
        let config = try Self.pipelineFile(s, pipelines: [("fast", Self.sql())])
        let port = try Self.freePort()
        let server = try Server(Self.environment(s, config: config, startAt: t0 - 10, extra: ["BRIDGE_HEALTH_PORT": String(port)]), name: "health")
        func get(_ path: String) -> (Int, String)? {
            guard let r = try? HTTPClient().perform(HTTPRequest(method: .get, url: "http://127.0.0.1:\(port)\(path)", timeout: .seconds(5))) else { return nil }
            return (r.status, String(decoding: r.body, as: UTF8.self))
        }
        let ready = await Self.waitFor(30) { get("/readyz")?.0 == 200 }
        #expect(ready, "\(server.output)")
        #expect(get("/livez")?.0 == 200)
        #expect(get("/nope")?.0 == 404)
        #expect(await server.stop().status == 0)
    }

    @Test("Postgres down: serve stays up, unready, and retries; it never exits for it", .timeLimit(.minutes(10)))
    func postgresDown() async throws {
        let s = try Scenario()
        let config = try Self.pipelineFile(s, pipelines: [("fast", Self.sql())])
        let port = try Self.freePort()
        var env = Self.environment(s, config: config, startAt: Self.nowSeconds - 10, extra: ["BRIDGE_HEALTH_PORT": String(port)])
        env["CHECKPOINT_DATABASE_URL"] = "postgresql://postgres:secret@127.0.0.1:\(try Self.freePort())/postgres?connect_timeout=2"
        let server = try Server(env, name: "pgdown")
        let unready = await Self.waitFor(30) {
            guard let r = try? HTTPClient().perform(HTTPRequest(method: .get, url: "http://127.0.0.1:\(port)/readyz", timeout: .seconds(5))) else { return false }
            return r.status == 503 && String(decoding: r.body, as: UTF8.self).contains("checkpoint store")
        }
        #expect(unready, "\(server.output)")
        #expect(server.process.isRunning)
        #expect(await server.stop().status == 0)
        #expect(!server.output.contains("secret"))
    }

    /// A TCP port nothing listens on (bound and released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
