import Foundation
import Bridge
import Commands
import Observability
import Service
import Rollup
import Testing
import TestSupport
import UTCTime

/// The `otel-bridge` executable's exit codes and messages, run as a process.
@Suite("The otel-bridge command")
struct CommandLineTests {
    static let binary: String = {
        for candidate in [".build/debug/otel-bridge", ".build/x86_64-unknown-linux-gnu/debug/otel-bridge"] {
            let path = Services.root + "/" + candidate
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return Services.root + "/.build/debug/otel-bridge"
    }()

    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary with `arguments`; with a `launcher` (a command line ending where the
    /// binary's path goes), runs the binary through it.
    static func run(_ arguments: [String], environment: [String: String], launcher: [String] = []) throws -> Outcome {
        let p = Process()
        let command = launcher + [binary] + arguments
        p.executableURL = URL(fileURLWithPath: command[0])
        p.arguments = Array(command.dropFirst())
        p.environment = environment.merging(["PATH": "/usr/bin:/bin", "LOG_LEVEL": "info"]) { a, _ in a }
        p.currentDirectoryURL = URL(fileURLWithPath: Services.root)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Outcome(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    @Test("Postgres unreachable at start: exit 1 before any query or push", .timeLimit(.minutes(10)))
    func postgresUnreachable() throws {
        let s = try Scenario()
        var env = s.environment(startAt: UTCInstant(unixNanoseconds: Int64(Date().timeIntervalSince1970 - 600) * 1_000_000_000).iso8601)
        env["CHECKPOINT_DATABASE_URL"] = "postgresql://postgres:secret-pw@127.0.0.1:9/postgres?connect_timeout=2"
        let outcome = try Self.run(["run"], environment: env)
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("checkpoint store"))
        #expect(!outcome.stderr.contains("secret-pw"), "the password never appears")
        #expect(try s.received().isEmpty)
    }

    @Test("bad configuration and usage: exit 2 with the variable or file named", arguments: [
        (["run"], ["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "sometimes"], "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"),
        (["run"], ["BRIDGE_CONFIG": "/nonexistent/bridge.yaml"], "/nonexistent/bridge.yaml"),
        (["run", "--pipeline", "nope"], [:], "no pipeline named 'nope'"),
        (["run", "--no-such-flag"], [:], "--no-such-flag"),
        (["checkpoints", "rewind", "requests", "--to", "yesterday"], [:], "ISO 8601"),
    ])
    func configurationErrors(arguments: [String], overrides: [String: String], mentions: String) throws {
        var env = [
            "CHECKPOINT_DATABASE_URL": Services.postgresURL, "OTEL_PUSH_ENABLED": "true", "OTEL_ENDPOINT": Services.otlpURL,
            "CLICKHOUSE_URL": Services.clickHouseURL,
        ]
        env.merge(overrides) { $1 }
        let outcome = try Self.run(arguments, environment: env)
        #expect(outcome.status == 2, "\(outcome.stderr)")
        #expect(outcome.stderr.contains(mentions), "\(outcome.stderr)")
    }

    @Test("no subcommand: exit 2 with a usage error, not help and exit 0")
    func noSubcommand() throws {
        let outcome = try Self.run([], environment: [:])
        #expect(outcome.status == 2, "\(outcome.stderr)")
        #expect(outcome.stderr.contains("Error: no command given: one of run, serve, checkpoints, validate is required"), "\(outcome.stderr)")
        #expect(outcome.stdout.isEmpty, "help goes nowhere near stdout: \(outcome.stdout)")
        // --help still exits 0 with the help on stdout.
        let help = try Self.run(["--help"], environment: [:])
        #expect(help.status == 0)
        #expect(help.stdout.contains("SUBCOMMANDS:"), "\(help.stdout)")
    }

    /// The Swift runtime reads the arguments through /proc/self/maps; a private mount namespace
    /// with an empty tmpfs over /proc takes them away exactly as a chroot without /proc does.
    /// Five runs each: a check made too late loses a race with libdispatch, which traps (exit 132)
    /// on most runs once a worker thread is watched without /proc.
    @Test("arguments that cannot be read (no /proc): exit 2 naming the cause, whatever the subcommand",
          .enabled(if: getuid() == 0, "hiding /proc in a mount namespace needs root (CI runs as root)"),
          arguments: [["run"], ["validate"], ["--version"]])
    func unreadableArguments(arguments: [String]) throws {
        let hideProc = ["/usr/bin/unshare", "--mount", "--fork", "/bin/sh", "-c",
                        "mount -t tmpfs none /proc && exec \"$0\" \"$@\""]
        for _ in 0..<5 {
            let outcome = try Self.run(arguments, environment: [:], launcher: hideProc)
            #expect(outcome.status == 2, "\(outcome.stderr)")
            #expect(outcome.stderr.contains("Error: the command line could not be read"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("is /proc mounted?"), "\(outcome.stderr)")
            #expect(outcome.stdout.isEmpty, "\(outcome.stdout)")
        }
    }

    @Test("a failing pipeline exits 1; a run that exports exits 0, and so does one with nothing new", .timeLimit(.minutes(10)))
    func exitCodes() throws {
        // The binary uses the real clock: data from ten minutes ago.
        let s = try Scenario()
        let now = Int64(Date().timeIntervalSince1970) / 60 * 60
        let start = UTCInstant(unixNanoseconds: (now - 600) * 1_000_000_000).iso8601, end = UTCInstant(unixNanoseconds: (now - 300) * 1_000_000_000).iso8601
        try s.seed(start: start, end: end)
        let env = s.environment(startAt: start)
        var broken = env
        broken["CLICKHOUSE_URL"] = "http://127.0.0.1:9"
        let outcome = try Self.run(["run"], environment: broken)
        #expect(outcome.status == 1, "ClickHouse down with buckets to export")
        #expect(outcome.stderr.contains("failed"))
        #expect(try Self.run(["run"], environment: env).status == 0)
        #expect(try Self.run(["run"], environment: env).status == 0, "nothing new to do is success")
    }

    @Test("cumulative totals continue across a process restart with unchanged start times", .timeLimit(.minutes(10)))
    func cumulativeAcrossProcesses() throws {
        // The binary uses the real clock: data from the last twenty minutes. The first pass runs
        // in this process with a clock ten minutes back, the second in a new otel-bridge process.
        let s = try Scenario()
        let now = Int64(Date().timeIntervalSince1970) / 60 * 60
        let start = UTCInstant(unixNanoseconds: (now - 1200) * 1_000_000_000).iso8601
        try s.seed(start: start, end: UTCInstant(unixNanoseconds: (now - 180) * 1_000_000_000).iso8601)
        let env = s.environment(startAt: start)
        let first = try s.bridge(env, now: (now - 600) * 1_000_000_000).run(only: ["requests"])
        #expect(first.first?.status == .ok)
        let outcome = try Self.run(["run", "--pipeline", "requests"], environment: env)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let watermark = try #require(try s.store().checkpoint(pipeline: "requests")).watermark
        let until = watermark.unixNanoseconds
        #expect(until > first[0].watermarkAfter, "the second process exported more buckets")
        let expected = Expectations.points(rows: try s.rawRows(), from: ns(start), until: until, cumulative: true)
            .filter { $0.metric == "portkey.requests" }
        let received = try s.received()
        #expect(Expectations.check(received: received, expected: expected).isEmpty)
        let starts = Dictionary(grouping: received, by: \.seriesKey).mapValues { Set($0.map(\.start)) }
        #expect(starts.values.allSatisfy { $0.count == 1 })
    }

    @Test("validate checks configuration, every template's columns and connectivity, exporting nothing", .timeLimit(.minutes(10)))
    func validate() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-12T10:00:00Z", end: "2026-03-12T10:01:00Z")
        let env = s.environment(startAt: "2026-03-12T10:00:00Z")
        let ok = try Self.run(["validate"], environment: env)
        #expect(ok.status == 0, "\(ok.stderr.suffix(3000))")
        for name in ["requests", "tokens", "cost", "latency"] {
            #expect(ok.stdout.contains("ok   pipeline \(name) template:"), "\(ok.stdout)")
            #expect(ok.stdout.contains("ok   pipeline \(name) mapping:"), "\(ok.stdout)")
        }
        #expect(ok.stdout.contains("ok   otlp metrics: \(Services.otlpURL)/v1/metrics acknowledged an empty export with an OTLP response"), "\(ok.stdout)")
        #expect(try s.received().isEmpty, "validate exports no data")

        // A template that lost a mapped column: exit 2, naming the pipeline, the file and the column.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("validate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let sql = try String(contentsOfFile: Services.root + "/queries/requests.sql", encoding: .utf8)
            .replacingOccurrences(of: "AS requests", with: "AS request_total")
        try sql.write(toFile: dir.path + "/requests.sql", atomically: true, encoding: .utf8)
        let yaml = try String(contentsOfFile: Services.root + "/config/bridge.yaml", encoding: .utf8)
            .replacingOccurrences(of: "../queries/requests.sql", with: dir.path + "/requests.sql")
            .replacingOccurrences(of: "../queries/", with: Services.root + "/queries/")
        try yaml.write(toFile: dir.path + "/bridge.yaml", atomically: true, encoding: .utf8)
        var broken = env
        broken["BRIDGE_CONFIG"] = dir.path + "/bridge.yaml"
        let bad = try Self.run(["validate"], environment: broken)
        #expect(bad.status == 2, "\(bad.stdout)")
        // Its own FAIL line (validate prints every check on stdout).
        let fail = try #require(bad.stdout.split(separator: "\n").first { $0.hasPrefix("FAIL pipeline requests mapping: ") }, "\(bad.stdout)")
        #expect(fail.contains("pipeline requests"), "\(fail)")
        #expect(fail.contains("requests.sql"), "\(fail)")
        #expect(fail.contains("'requests'"), "\(fail)")
    }

    @Test("no configured secret in any line at any log level, whether the run fails or succeeds", .timeLimit(.minutes(10)))
    func secretsNeverPrinted() throws {
        let s = try Scenario()
        let now = Int64(Date().timeIntervalSince1970) / 60 * 60
        let start = UTCInstant(unixNanoseconds: (now - 600) * 1_000_000_000).iso8601
        try s.seed(start: start, end: UTCInstant(unixNanoseconds: (now - 300) * 1_000_000_000).iso8601)
        let chUser = Services.clickHouseUser, chPassword = Services.clickHousePassword
        let secrets = [chPassword, "hdr-secret-0815", "tenant%2Ftoken-42", "tenant/token-42", "pg-pass-1234", "url-pass-9"]
        var env = s.environment(startAt: start)
        env["LOG_LEVEL"] = "trace"
        env["CLICKHOUSE_USER"] = chUser
        env["CLICKHOUSE_PASSWORD"] = chPassword + "\n"  // as a Kubernetes Secret file gives it
        env["OTEL_EXPORTER_OTLP_HEADERS"] = "api-key=hdr-secret-0815,x-tenant=tenant%2Ftoken-42"
        env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] = "delta"
        func check(_ outcome: Outcome, _ what: String) {
            for secret in secrets {
                #expect(!outcome.stdout.contains(secret) && !outcome.stderr.contains(secret), "\(what): \(secret) printed")
            }
        }
        // Succeeds (the receiver takes any header); the Postgres URL carries a password too.
        let ok = try Self.run(["run"], environment: env)
        #expect(ok.status == 0, "\(ok.stderr.suffix(3000))")
        #expect(ok.stderr.contains("trace") || ok.stderr.contains("debug"), "the run logged at trace level")
        check(ok, "a successful run")
        // Fails everywhere it can: ClickHouse with a password in its URL, Postgres with a wrong one.
        var broken = env
        broken["CLICKHOUSE_URL"] = "http://user:url-pass-9@127.0.0.1:9"
        check(try Self.run(["run"], environment: broken), "ClickHouse unreachable")
        check(try Self.run(["validate"], environment: broken), "validate, ClickHouse unreachable")
        broken = env
        broken["CHECKPOINT_DATABASE_URL"] = "postgresql://postgres:pg-pass-1234@127.0.0.1:9/x?connect_timeout=2"
        check(try Self.run(["run"], environment: broken), "Postgres unreachable")
        broken["CHECKPOINT_DATABASE_URL"] = "postgresql://postgres:pg-pass-1234@@/x"
        check(try Self.run(["checkpoints"], environment: broken), "a malformed Postgres URL")
        // Nothing stored in the checkpoint tables either.
        let errors = try s.store().connection.query("SELECT coalesce(string_agg(error, ' '), '') AS e FROM otel_bridge.runs")
        let stored = try errors.single().string("e")
        for secret in secrets { #expect(!stored.contains(secret)) }
    }

    @Test("row values cannot forge a log or dry-run line", .timeLimit(.minutes(10)))
    func forgedLines() throws {
        let s = try Scenario()
        let now = Int64(Date().timeIntervalSince1970) / 60 * 60
        let start = UTCInstant(unixNanoseconds: (now - 600) * 1_000_000_000).iso8601
        try s.seed(start: start, end: UTCInstant(unixNanoseconds: (now - 300) * 1_000_000_000).iso8601)
        _ = try s.clickhouse.execute("""
            INSERT INTO \(s.database).generations
            SELECT * REPLACE (concat('gpt', char(10), 'FORGED otel-bridge: pass finished', char(27), '[2J') AS ai_model, generateUUIDv4() AS id)
            FROM \(s.database).generations LIMIT 3
            """)
        let outcome = try Self.run(["run", "--dry-run", "--pipeline", "requests"], environment: s.environment(startAt: start))
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.contains("gpt\\nFORGED"), "the value is shown escaped")
        for line in (outcome.stdout + outcome.stderr).split(separator: "\n") {
            #expect(!line.hasPrefix("FORGED"))
            #expect(!line.contains("\u{1B}"))
        }
    }
}
