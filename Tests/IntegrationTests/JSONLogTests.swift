import Foundation
import Testing
import TestSupport
import UTCTime

/// `LOG_FORMAT=json` on the real binary: every line of stdout and stderr is one JSON object, for
/// every command and failure, at every log level, and none holds a secret.
@Suite("LOG_FORMAT=json: every line the process writes")
struct JSONLogTests {
    typealias Outcome = CommandLineTests.Outcome

    /// Runs the binary as `CommandLineTests.run` does, but with stdout and stderr going to files
    /// rather than pipes: a pipe's reader waits for every holder of its write end, and a child
    /// that another test spawns at the same moment can inherit that end and hold it for as long
    /// as it runs. A file needs no reader; the outcome is read once the process has exited.
    static func run(_ arguments: [String], environment: [String: String]) throws -> Outcome {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("otel-bridge-jsonlog-\(UUID().uuidString)")
        let outURL = base.appendingPathExtension("out"), errURL = base.appendingPathExtension("err")
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLineTests.binary)
        p.arguments = arguments
        p.environment = environment.merging(["PATH": "/usr/bin:/bin", "LOG_LEVEL": "info"]) { a, _ in a }
        p.currentDirectoryURL = URL(fileURLWithPath: Services.root)
        p.standardOutput = out
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        try out.close()
        try err.close()
        return Outcome(status: p.terminationStatus,
                       stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                       stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// Every line of both streams as a JSON object with the fixed keys; records an issue for
    /// each line that is not one.
    @discardableResult
    static func objects(_ outcome: Outcome, _ what: String, secrets: [String] = []) -> [(stream: String, object: [String: Any])] {
        var all: [(String, [String: Any])] = []
        for (stream, text) in [("stdout", outcome.stdout), ("stderr", outcome.stderr)] {
            for secret in secrets { #expect(!text.contains(secret), "\(what): \(secret) printed on \(stream)") }
            #expect(text.isEmpty || text.hasSuffix("\n"), "\(what): \(stream) ends with a line end")
            for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
                guard let data = String(line).data(using: .utf8),
                      let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                    Issue.record("\(what): a \(stream) line that is not a JSON object: \(line.prefix(300))")
                    continue
                }
                #expect(object["time"] is String && object["level"] is String && object["message"] is String, "\(what): \(line.prefix(300))")
                if let time = object["time"] as? String {
                    #expect(time.count == 24 && time.hasSuffix("Z") && UTCInstant(iso8601: time) != nil, "\(what): time \(time)")
                }
                for (key, value) in object where !(value is String) {
                    #expect(value is NSNumber && ["rows", "points", "batches", "rejected", "done", "total", "series", "series_reset", "merged_rows", "attempts"].contains(key),
                            "\(what): \(key) is \(value)")
                }
                all.append((stream, object))
            }
        }
        return all
    }

    @Test("every command, succeeding and failing, at trace level: JSON lines only, no secret", .timeLimit(.minutes(10)))
    func everyLineIsJSONWithoutSecrets() throws {
        let s = try Scenario()
        let now = Int64(Date().timeIntervalSince1970) / 60 * 60
        let start = UTCInstant(unixNanoseconds: (now - 600) * 1_000_000_000).iso8601
        try s.seed(start: start, end: UTCInstant(unixNanoseconds: (now - 300) * 1_000_000_000).iso8601)
        // A tenant's value that would forge a line and move a terminal's cursor.
        _ = try s.clickhouse.execute("""
            INSERT INTO \(s.database).generations
            SELECT * REPLACE (concat('gpt"', char(10), '{"level":"FORGED"}\\\\', char(27), '[2J', char(0)) AS ai_model, generateUUIDv4() AS id)
            FROM \(s.database).generations LIMIT 3
            """)
        let chUser = Services.environment["TEST_CLICKHOUSE_USER"] ?? "bridge", chPassword = Services.environment["TEST_CLICKHOUSE_PASSWORD"] ?? "otel-bridge-test"
        let secrets = [chPassword, "hdr-secret-0815", "tenant%2Ftoken-42", "tenant/token-42", "pg-pass-1234", "url-pass-9"]
        var env = s.environment(startAt: start)
        env["LOG_FORMAT"] = "json"
        env["LOG_LEVEL"] = "trace"
        env["CLICKHOUSE_USER"] = chUser
        env["CLICKHOUSE_PASSWORD"] = chPassword + "\n"
        env["OTEL_EXPORTER_OTLP_HEADERS"] = "api-key=hdr-secret-0815,x-tenant=tenant%2Ftoken-42"
        env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] = "delta"

        // A dry run: the points on stdout, each an object naming its window and metric.
        let dry = try Self.run(["run", "--dry-run", "--pipeline", "requests"], environment: env)
        #expect(dry.status == 0, "\(dry.stderr.suffix(2000))")
        let dryLines = Self.objects(dry, "run --dry-run", secrets: secrets)
        let points = dryLines.filter { $0.stream == "stdout" }.map(\.object)
        #expect(points.count > 10)
        #expect(points.allSatisfy { $0["metric"] as? String == "portkey.requests" && ($0["window"] as? String)?.contains("..") == true })
        let forged = points.compactMap { $0["message"] as? String }.filter { $0.contains("FORGED") }
        #expect(!forged.isEmpty && forged.allSatisfy { !$0.contains("\n") && !$0.contains("\u{1B}") && !$0.contains("\u{0}") }, "\(forged.prefix(1))")
        #expect(dryLines.allSatisfy { ($0.object["level"] as? String) != "FORGED" })

        // ClickHouse unreachable while there is work: the failure's summary and error lines.
        var chBroken = env
        chBroken["CLICKHOUSE_URL"] = "http://user:url-pass-9@127.0.0.1:9"
        let chDown = try Self.run(["run"], environment: chBroken)
        #expect(chDown.status == 1)
        let chDownLines = Self.objects(chDown, "ClickHouse unreachable", secrets: secrets)
        #expect(chDownLines.contains { $0.object["status"] as? String == "failed" && $0.object["level"] as? String == "error" && $0.object["error"] is String })
        // The receiver unreachable: retries logged with the headers configured, then a failure.
        var otlpBroken = env
        otlpBroken["OTEL_ENDPOINT"] = "http://127.0.0.1:9"
        otlpBroken["BRIDGE_EXPORT_MAX_ELAPSED"] = "1"
        let otlpDown = try Self.run(["run", "--pipeline", "requests"], environment: otlpBroken)
        #expect(otlpDown.status == 1)
        #expect(Self.objects(otlpDown, "receiver unreachable", secrets: secrets).contains { $0.object["status"] as? String == "failed" })
        // The export: logs at every level, then the summaries, as objects with their fields.
        let ok = try Self.run(["run"], environment: env)
        #expect(ok.status == 0, "\(ok.stderr.suffix(2000))")
        let okLines = Self.objects(ok, "run", secrets: secrets)
        let levels = Set(okLines.compactMap { $0.object["level"] as? String })
        #expect(levels.contains("trace") || levels.contains("debug"), "logged below info: \(levels)")
        #expect(levels.contains("info"))
        let summaries = okLines.filter { $0.object["status"] as? String == "ok" }.map(\.object)
        #expect(summaries.count >= 4, "one summary per enabled default pipeline")
        let requests = try #require(summaries.first { $0["pipeline"] as? String == "requests" })
        #expect((requests["rows"] as? Int ?? 0) > 0)
        #expect((requests["points"] as? Int ?? 0) > 0)
        #expect((requests["window"] as? String)?.contains("..") == true)
        #expect(okLines.contains { $0.object["message"] as? String == "pass finished" && $0.object["pipeline"] as? String == "requests" })

        Self.objects(try Self.run(["validate"], environment: env), "validate", secrets: secrets)
        let table = try Self.run(["checkpoints"], environment: env)
        #expect(table.status == 0)
        let rows = Self.objects(table, "checkpoints", secrets: secrets).filter { $0.stream == "stdout" }.map(\.object)
        #expect(rows.contains { $0["pipeline"] as? String == "requests" && $0["watermark"] is String })

        var broken = env
        broken["CLICKHOUSE_URL"] = "http://user:url-pass-9@127.0.0.1:9"
        let validateDown = try Self.run(["validate"], environment: broken)
        #expect(validateDown.status != 0)
        #expect(Self.objects(validateDown, "validate, ClickHouse unreachable", secrets: secrets).contains { $0.object["level"] as? String == "error" })
        broken = env
        broken["CHECKPOINT_DATABASE_URL"] = "postgresql://postgres:pg-pass-1234@127.0.0.1:9/x?connect_timeout=2"
        let pgDown = try Self.run(["run"], environment: broken)
        #expect(pgDown.status == 1)
        #expect(Self.objects(pgDown, "Postgres unreachable", secrets: secrets).contains { $0.object["error"] as? String == "checkpoint store error" })
        broken["CHECKPOINT_DATABASE_URL"] = "postgresql://postgres:pg-pass-1234@@/x"
        Self.objects(try Self.run(["checkpoints"], environment: broken), "a malformed Postgres URL", secrets: secrets)
        Self.objects(try Self.run(["run", "--pipeline", "nope"], environment: env), "an unknown pipeline", secrets: secrets)
        broken = env
        broken["BRIDGE_START_AT"] = "yesterday"
        let badConfig = try Self.run(["run"], environment: broken)
        #expect(badConfig.status == 2)
        #expect(Self.objects(badConfig, "a bad BRIDGE_START_AT", secrets: secrets).contains { ($0.object["message"] as? String)?.contains("BRIDGE_START_AT") == true })
    }

    static let argumentCases: [([String], Int32)] = [
        (["run", "--bogus"], 2), (["checkpoints", "rewind"], 2), (["frobnicate"], 2),
        (["checkpoints", "rewind", "requests", "--to", "not-a-time"], 2), (["--help"], 0), (["run", "--help"], 0), (["--version"], 0),
    ]

    @Test("argument-parser's own output: usage errors and help, as JSON objects", .timeLimit(.minutes(10)),
          arguments: argumentCases)
    func argumentParser(arguments: [String], status: Int32) throws {
        let env = ["LOG_FORMAT": "json", "CLICKHOUSE_PASSWORD": "ch-pass-5678", "CHECKPOINT_DATABASE_URL": "postgresql://u:pg-pass-1234@127.0.0.1:9/x"]
        let outcome = try Self.run(arguments, environment: env)
        #expect(outcome.status == status, "\(outcome.stdout)\(outcome.stderr)")
        let lines = Self.objects(outcome, arguments.joined(separator: " "), secrets: ["ch-pass-5678", "pg-pass-1234"])
        #expect(lines.count == 1, "one object for the whole text")
        let object = try #require(lines.first?.object)
        #expect(object["level"] as? String == (status == 0 ? "info" : "error"))
        #expect(lines.first?.stream == (status == 0 ? "stdout" : "stderr"))
        if arguments.first == "run" && status == 2 { #expect((object["message"] as? String)?.contains("Usage:") == true) }
        if status == 2 { #expect(object["error"] as? String == "usage error") }
    }

    @Test("an unknown LOG_FORMAT is a configuration error naming the variable and the accepted values", .timeLimit(.minutes(10)))
    func unknownFormat() throws {
        let outcome = try Self.run(["validate"], environment: ["LOG_FORMAT": "yaml"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("LOG_FORMAT") && outcome.stderr.contains("text, json") && outcome.stderr.contains("yaml"), "\(outcome.stderr)")
        #expect(outcome.stdout.isEmpty)
    }

    @Test("text stays text: no JSON when LOG_FORMAT is unset or text", .timeLimit(.minutes(10)))
    func textStaysText() throws {
        for format in [nil, "text"] {
            var env = ["CHECKPOINT_DATABASE_URL": "postgresql://u:pg-pass-1234@127.0.0.1:9/x?connect_timeout=2", "OTEL_PUSH_ENABLED": "true",
                       "BRIDGE_CONFIG": Services.root + "/config/bridge.yaml"]
            env["LOG_FORMAT"] = format
            let outcome = try Self.run(["run"], environment: env)
            #expect(outcome.status == 1)
            #expect(outcome.stderr.hasPrefix("otel-bridge: checkpoint store error") || outcome.stderr.contains("\notel-bridge: checkpoint store error"), "\(outcome.stderr)")
            #expect(!outcome.stderr.contains("{\"time\""))
            #expect(!outcome.stderr.contains("pg-pass-1234"))
        }
    }
}
