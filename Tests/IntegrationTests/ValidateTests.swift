import Foundation
import Bridge
import Commands
import Observability
import Service
import Rollup
import Testing
import TestSupport
import UTCTime

/// `otel-bridge validate`, run as a process against the real services: one line per check, every
/// check run whatever failed before it, and the exit code of the worst failure.
@Suite("otel-bridge validate")
struct ValidateTests {
    typealias Outcome = CommandLineTests.Outcome

    /// One printed check: `ok  `, `FAIL` or `skip`, its name and its detail.
    struct Line: Equatable {
        var status: String
        var name: String
        var detail: String
    }

    static func lines(_ outcome: Outcome) -> [Line] {
        outcome.stdout.split(separator: "\n").compactMap { raw in
            let text = String(raw)
            guard text.count > 5, let colon = text.range(of: ": ") else { return nil }
            let status = String(text.prefix(4)).trimmingCharacters(in: .whitespaces)
            return Line(status: status, name: String(text[text.index(text.startIndex, offsetBy: 5)..<colon.lowerBound]),
                        detail: String(text[colon.upperBound...]))
        }
    }

    static let pipelines = ["requests", "tokens", "cost", "latency"]

    /// Every check of the shipped configuration, in the order they are printed.
    static let allChecks = ["environment", "pipeline file", "checkpoint store", "clickhouse"]
        + pipelines.flatMap { ["pipeline \($0) template", "pipeline \($0) mapping"] } + ["otlp metrics"]

    /// The line of check `name`, which must be printed exactly once.
    static func line(_ outcome: Outcome, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Line {
        let found = lines(outcome).filter { $0.name == name }
        #expect(found.count == 1, "\(name) printed \(found.count) times:\n\(outcome.stdout)", sourceLocation: sourceLocation)
        return try #require(found.first, "no line for \(name):\n\(outcome.stdout)\n\(outcome.stderr.suffix(2000))", sourceLocation: sourceLocation)
    }

    /// Every check printed in order, all `ok` except those in `except` (name: status).
    static func expectLines(_ outcome: Outcome, except: [String: String], sourceLocation: SourceLocation = #_sourceLocation) {
        let printed = lines(outcome)
        #expect(printed.map(\.name) == allChecks, "\(outcome.stdout)", sourceLocation: sourceLocation)
        for l in printed {
            #expect(l.status == (except[l.name] ?? "ok"), "\(l.name): \(l.status) \(l.detail)", sourceLocation: sourceLocation)
        }
    }

    /// A scenario with rows until a minute ago, so the last closed bucket holds some.
    static func scenario() throws -> (Scenario, [String: String], start: Int64) {
        let s = try Scenario()
        let now = Int64(Date().timeIntervalSince1970) / 60 * 60
        let start = (now - 900) * 1_000_000_000
        try s.seed(start: UTCInstant(unixNanoseconds: start).iso8601, end: UTCInstant(unixNanoseconds: (now - 60) * 1_000_000_000).iso8601, ratePerMinute: 30)
        // Its own receiver scope, so a scripted answer reaches no other test.
        let env = s.environment(startAt: UTCInstant(unixNanoseconds: start).iso8601, extra: ["OTEL_ENDPOINT": Services.otlpURL + "/s/" + s.id])
        return (s, env, start)
    }

    /// A copy of the shipped pipeline file (and of the query `broken`) with `replacements` made
    /// in the YAML and `sql` in that query; returns the YAML's path.
    static func brokenConfig(yaml replacements: [(String, String)] = [], query broken: String? = nil, sql: [(String, String)] = []) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("validate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var yaml = try String(contentsOfFile: Services.root + "/config/bridge.yaml", encoding: .utf8)
        if let broken {
            var text = try String(contentsOfFile: Services.root + "/queries/\(broken).sql", encoding: .utf8)
            for (a, b) in sql {
                #expect(text.contains(a))
                text = text.replacingOccurrences(of: a, with: b)
            }
            try text.write(toFile: dir.path + "/\(broken).sql", atomically: true, encoding: .utf8)
            yaml = yaml.replacingOccurrences(of: "../queries/\(broken).sql", with: dir.path + "/\(broken).sql")
        }
        yaml = yaml.replacingOccurrences(of: "../queries/", with: Services.root + "/queries/")
        for (a, b) in replacements {
            #expect(yaml.contains(a))
            yaml = yaml.replacingOccurrences(of: a, with: b)
        }
        try yaml.write(toFile: dir.path + "/bridge.yaml", atomically: true, encoding: .utf8)
        return dir.path + "/bridge.yaml"
    }

    @Test("all ok: one ok line per check, templates run with the next window's parameters, exit 0, nothing exported", .timeLimit(.minutes(10)))
    func allOK() throws {
        let (s, env, start) = try Self.scenario()
        let first = try CommandLineTests.run(["validate"], environment: env)
        #expect(first.status == 0, "\(first.stdout)\n\(first.stderr.suffix(2000))")
        Self.expectLines(first, except: [:])
        // No checkpoint yet: the last closed bucket, which holds rows.
        let template = try Self.line(first, "pipeline requests template")
        #expect(template.detail.contains("requests.sql runs for ["), "\(template.detail)")
        #expect(template.detail.contains("the last closed bucket (no checkpoint yet): "), "\(template.detail)")
        #expect(!template.detail.hasSuffix(": 0 row(s)"), "the last closed bucket holds rows: \(template.detail)")
        #expect(try Self.line(first, "pipeline requests mapping").detail.hasPrefix("columns and types fit portkey.requests; "))
        #expect(try Self.line(first, "otlp metrics").detail == Services.otlpURL + "/s/\(s.id)/v1/metrics acknowledged an empty export with an OTLP response")
        #expect(try s.received().isEmpty, "validate exports no data")
        #expect(try s.store().checkpoint(pipeline: "requests") == nil, "validate creates no checkpoint")

        // With a checkpoint: the first closed bucket after the watermark.
        _ = try s.store().ensureCheckpoint(pipeline: "requests", initialWatermark: UTCInstant(unixNanoseconds: start))
        let second = try CommandLineTests.run(["validate"], environment: env)
        #expect(second.status == 0, "\(second.stdout)")
        let window = TimeWindow(start: start, end: start + 60_000_000_000)
        let next = try Self.line(second, "pipeline requests template").detail
        #expect(next.contains("runs for \(window), the first closed bucket after the watermark: "), "\(next)")
        #expect(!next.hasSuffix(": 0 row(s)"), "\(next)")
        #expect(try s.store().checkpoint(pipeline: "requests").map { $0.watermark.unixNanoseconds } == start, "the watermark did not move")
    }

    @Test("a bad template: its FAIL line names pipeline and file, its mapping is skipped, the rest is checked, exit 2", .timeLimit(.minutes(10)))
    func badTemplate() throws {
        let (s, base, _) = try Self.scenario()
        defer { withExtendedLifetime(s) {} }  // its databases live until the test ends
        var env = base
        env["BRIDGE_CONFIG"] = try Self.brokenConfig(query: "requests", sql: [("FROM generations", "FROM generations WHERE WHERE")])
        let outcome = try CommandLineTests.run(["validate"], environment: env)
        #expect(outcome.status == 2, "\(outcome.stdout)")
        Self.expectLines(outcome, except: ["pipeline requests template": "FAIL", "pipeline requests mapping": "skip"])
        let fail = try Self.line(outcome, "pipeline requests template").detail
        #expect(fail.contains("/requests.sql failed for ["), "\(fail)")
        #expect(fail.contains("window_start="), "the parameters it ran with: \(fail)")
        #expect(fail.contains("ClickHouse server exception"), "\(fail)")
        #expect(fail.contains("fix the query in "), "\(fail)")
        #expect(try Self.line(outcome, "pipeline requests mapping").detail == "needs the template's result (see the template line)")
    }

    @Test("a mapping that reads an unknown column: its FAIL line names pipeline, file and column, exit 2", .timeLimit(.minutes(10)))
    func unknownColumn() throws {
        let (s, base, _) = try Self.scenario()
        defer { withExtendedLifetime(s) {} }  // its databases live until the test ends
        var env = base
        let yaml = try Self.brokenConfig(yaml: [("value_column: requests\n", "value_column: request_total\n")])
        env["BRIDGE_CONFIG"] = yaml
        let outcome = try CommandLineTests.run(["validate"], environment: env)
        #expect(outcome.status == 2, "\(outcome.stdout)")
        Self.expectLines(outcome, except: ["pipeline requests mapping": "FAIL"])
        let fail = try Self.line(outcome, "pipeline requests mapping").detail
        #expect(fail.hasPrefix("template error: pipeline requests, "), "\(fail)")
        #expect(fail.contains("requests.sql"), "\(fail)")
        #expect(fail.contains("metric portkey.requests reads column 'request_total', which the query does not return"), "\(fail)")
        #expect(fail.contains("change the mapping in \(yaml)"), "\(fail)")
    }

    @Test("Postgres down: the checkpoint store FAILs without its password, templates still run on the last closed bucket, exit 1", .timeLimit(.minutes(10)))
    func postgresDown() throws {
        let (s, base, _) = try Self.scenario()
        defer { withExtendedLifetime(s) {} }  // its databases live until the test ends
        var env = base
        env["CHECKPOINT_DATABASE_URL"] = "postgresql://postgres:pg-secret-77@127.0.0.1:9/postgres?connect_timeout=2"
        let outcome = try CommandLineTests.run(["validate"], environment: env)
        #expect(outcome.status == 1, "\(outcome.stdout)")
        Self.expectLines(outcome, except: ["checkpoint store": "FAIL"])
        let fail = try Self.line(outcome, "checkpoint store").detail
        #expect(fail.contains("port 9 failed"), "\(fail)")
        #expect(fail.contains("check CHECKPOINT_DATABASE_URL"), "\(fail)")
        #expect(try Self.line(outcome, "pipeline cost template").detail.contains("the last closed bucket (no checkpoint store)"))
        #expect(!outcome.stdout.contains("pg-secret-77") && !outcome.stderr.contains("pg-secret-77"), "the password never appears")
    }

    @Test("ClickHouse down: clickhouse FAILs without the URL's password, every template and mapping is skipped saying why, exit 1", .timeLimit(.minutes(10)))
    func clickhouseDown() throws {
        let (s, base, _) = try Self.scenario()
        defer { withExtendedLifetime(s) {} }  // its databases live until the test ends
        var env = base
        env["CLICKHOUSE_URL"] = "http://bridge:ch-secret-42@127.0.0.1:9"
        let outcome = try CommandLineTests.run(["validate"], environment: env)
        #expect(outcome.status == 1, "\(outcome.stdout)")
        var expected = ["clickhouse": "FAIL"]
        for p in Self.pipelines { expected["pipeline \(p) template"] = "skip"; expected["pipeline \(p) mapping"] = "skip" }
        Self.expectLines(outcome, except: expected)
        let fail = try Self.line(outcome, "clickhouse").detail
        #expect(fail.hasPrefix("http://127.0.0.1:9: ClickHouse transport failure: "), "\(fail)")
        #expect(fail.contains("check CLICKHOUSE_URL"), "\(fail)")
        #expect(try Self.line(outcome, "pipeline latency template").detail == "needs ClickHouse (see the clickhouse line)")
        #expect(!outcome.stdout.contains("ch-secret-42") && !outcome.stderr.contains("ch-secret-42"), "the password never appears")
    }

    @Test("OTLP endpoint down: otlp metrics FAILs naming the URL and the variables to check, exit 1", .timeLimit(.minutes(10)))
    func endpointDown() throws {
        let (s, base, _) = try Self.scenario()
        defer { withExtendedLifetime(s) {} }  // its databases live until the test ends
        var env = base
        env["OTEL_ENDPOINT"] = "http://127.0.0.1:9"
        let outcome = try CommandLineTests.run(["validate"], environment: env)
        #expect(outcome.status == 1, "\(outcome.stdout)")
        Self.expectLines(outcome, except: ["otlp metrics": "FAIL"])
        let fail = try Self.line(outcome, "otlp metrics").detail
        #expect(fail.hasPrefix("http://127.0.0.1:9/v1/metrics is unavailable: "), "\(fail)")
        #expect(fail.contains("check OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT"), "\(fail)")
    }

    @Test("an endpoint answering 200 with an HTML page: otlp metrics FAILs as not OTLP, exit 1", .timeLimit(.minutes(10)))
    func endpointNotOTLP() throws {
        let (s, env, _) = try Self.scenario()
        try Receiver.control(scope: "/s/\(s.id)", ["default": [
            "status": 200, "raw_body": "<html><body>Please sign in</body></html>", "content_type": "text/html; charset=utf-8"]])
        let outcome = try CommandLineTests.run(["validate"], environment: env)
        #expect(outcome.status == 1, "\(outcome.stdout)")
        Self.expectLines(outcome, except: ["otlp metrics": "FAIL"])
        let fail = try Self.line(outcome, "otlp metrics").detail
        #expect(fail.hasPrefix(Services.otlpURL + "/s/\(s.id)/v1/metrics is not an OTLP/HTTP receiver: HTTP 200 with Content-Type text/html; charset=utf-8 is not an OTLP response"), "\(fail)")
        #expect(!fail.contains("Please sign in"), "the body is not echoed")
    }

    @Test("a broken pipeline file is a FAIL line too: the services are still checked, and 2 wins over 1", .timeLimit(.minutes(10)))
    func brokenPipelineFile() throws {
        let (s, base, _) = try Self.scenario()
        defer { withExtendedLifetime(s) {} }  // its databases live until the test ends
        var env = base
        let yaml = try Self.brokenConfig(yaml: [("      - metric_name: portkey.cost\n", "      - metric_name: portkey.cost\n        metrik_name: x\n")])
        env["BRIDGE_CONFIG"] = yaml
        env["OTEL_ENDPOINT"] = "http://127.0.0.1:9"
        let outcome = try CommandLineTests.run(["validate"], environment: env)
        #expect(outcome.status == 2, "\(outcome.stdout)")
        let printed = Self.lines(outcome)
        #expect(printed.map(\.name) == ["environment", "pipeline file", "checkpoint store", "clickhouse", "pipelines", "otlp metrics"], "\(outcome.stdout)")
        #expect(printed.map(\.status) == ["ok", "FAIL", "ok", "ok", "skip", "FAIL"], "\(outcome.stdout)")
        let fail = try Self.line(outcome, "pipeline file").detail
        #expect(fail.contains(yaml) && fail.contains("metrik_name"), "\(fail)")

        // An invalid environment: nothing else can be reached, every other check is skipped.
        env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "soon"
        let bad = try CommandLineTests.run(["validate"], environment: env)
        #expect(bad.status == 2)
        #expect(Self.lines(bad).map(\.status) == ["FAIL", "skip", "skip", "skip", "skip"], "\(bad.stdout)")
        #expect(try Self.line(bad, "environment").detail.contains("OTEL_EXPORTER_OTLP_TIMEOUT"))
    }

    @Test("GenAI traces enabled: the traces endpoint is checked as OTLP too", .timeLimit(.minutes(10)))
    func tracesEndpoint() throws {
        let (s, base, _) = try Self.scenario()
        var env = base
        env["EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED"] = "true"
        env["EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT"] = Services.otlpURL + "/s/\(s.id)-traces"
        let ok = try CommandLineTests.run(["validate"], environment: env)
        #expect(ok.status == 0, "\(ok.stdout)")
        #expect(try Self.line(ok, "otlp traces").detail.hasPrefix(Services.otlpURL + "/s/\(s.id)-traces/v1/traces acknowledged an empty export with an OTLP response"))
        try Receiver.control(scope: "/s/\(s.id)-traces", ["default": ["status": 200, "raw_body": "{}", "content_type": "text/plain"]])
        let bad = try CommandLineTests.run(["validate"], environment: env)
        #expect(bad.status == 1, "\(bad.stdout)")
        #expect(try Self.line(bad, "otlp traces").status == "FAIL")
        #expect(try Self.line(bad, "otlp metrics").status == "ok")
    }
}
