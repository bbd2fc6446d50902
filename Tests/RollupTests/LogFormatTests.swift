import Foundation
import Synchronization
import Logging
import Testing
@testable import Bridge
@testable import Commands
@testable import Observability
@testable import Service
@testable import Rollup

/// Collects what a handler or an output writes, for inspection.
final class CapturedLines: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    func append(_ line: String) { storage.withLock { $0.append(line) } }
}

func parseJSON(_ line: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
    guard let dictionary = object as? [String: Any] else { throw TestError("not an object: \(line)") }
    return dictionary
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite("LOG_FORMAT: readable text or one JSON object per line, always without secrets")
struct LogFormatTests {
    static let time: Int64 = 1_764_612_044_123_456_789  // 2025-12-01T18:00:44.123456789Z
    static let redactor = Redactor(environment: [
        "CLICKHOUSE_PASSWORD": "ch-s3cret-pw\n",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=otlp-key-123",
        "CHECKPOINT_DATABASE_URL": "postgresql://bridge:pg-pass-77@db/x",
    ])

    @Test("LOG_FORMAT: text by default, json, any case; anything else names the variable and the accepted values")
    func parsing() throws {
        #expect(try LogFormat(environment: [:]) == .text)
        #expect(try LogFormat(environment: ["LOG_FORMAT": ""]) == .text)
        #expect(try LogFormat(environment: ["LOG_FORMAT": "JSON"]) == .json)
        #expect(try LogFormat(environment: ["LOG_FORMAT": "text"]) == .text)
        do {
            _ = try LogFormat(environment: ["LOG_FORMAT": "logfmt"])
            Issue.record("logfmt accepted")
        } catch {
            #expect(error.code == .configuration)
            #expect(error.code.exitCode == 2)
            #expect(error.key == "LOG_FORMAT")
            #expect(error.description.contains("LOG_FORMAT"))
            #expect(error.description.contains("text, json"))
            #expect(error.description.contains("logfmt"))
        }
    }

    @Test("time is RFC 3339 UTC with milliseconds")
    func time() {
        #expect(JSONLogLine.rfc3339(Self.time) == "2025-12-01T18:00:44.123Z")
        #expect(JSONLogLine.rfc3339(0) == "1970-01-01T00:00:00.000Z")
    }

    @Test("fixed keys first, known fields next, the rest sorted; counts are numbers")
    func layout() throws {
        let line = JSONLogLine(time: Self.time, level: .warning, message: "pass finished", fields: [
            "zeta": "z", "points": "42", "pipeline": "requests", "rows": "7", "window": "a..b", "batches": "3",
            "duration": "1.5s", "error": "none", "alpha": "a", "rejected": "12x",
        ]).encoded
        #expect(line == #"{"time":"2025-12-01T18:00:44.123Z","level":"warning","message":"pass finished","pipeline":"requests","window":"a..b","rows":7,"points":42,"duration":"1.5s","error":"none","alpha":"a","batches":3,"rejected":"12x","zeta":"z"}"#)
        let object = try parseJSON(line)
        #expect(object["rows"] as? Int == 7)
        #expect(object["rejected"] as? String == "12x")
    }

    @Test("valid JSON for any content: quotes, backslashes, control characters, separators, non-ASCII",
          arguments: ["a\"b", "back\\slash", "line\nbreak\r\t", "nul\u{0}esc\u{1B}[2J del\u{7F}", "ls\u{2028}ps\u{2029}", "ünïcødé 🚀", "\\xFF raw-escaped", "", "-0", "01"])
    func anyContent(_ text: String) throws {
        let line = JSONLogLine(time: Self.time, level: .info, message: text, fields: [text: text, "rows": text, "time": text]).encoded
        #expect(!line.contains("\n") && !line.contains("\r") && !line.contains("\u{1B}") && !line.contains("\u{2028}"))
        let object = try parseJSON(line)
        #expect(object["message"] as? String == text)
        #expect(object["rows"] as? String == text, "not an integer: stays a string")
        #expect(object["field.time"] as? String == text, "a field cannot replace the fixed keys")
        #expect(object["time"] as? String == "2025-12-01T18:00:44.123Z")
        if !["message", "rows", "time"].contains(text) { #expect(object[text] as? String == text) }
    }

    @Test("the JSON handler: every level, logger and event metadata, all redacted")
    func handler() throws {
        let captured = CapturedLines()
        var logger = Logger(label: "t") { label in
            JSONLogHandler(label: label, level: .trace, redactor: Self.redactor, now: { Self.time }, write: captured.append)
        }
        logger[metadataKey: "pipeline"] = "requests pg-pass-77"
        for level in Logger.Level.allCases {
            logger.log(level: level, "key otlp-key-123 and ch-s3cret-pw.\nFORGED", metadata: [
                "error": "auth with ch-s3cret-pw failed", "rows": "12", "nested": ["otlp-key-123", "x"], "otlp-key-123": "k",
            ])
        }
        #expect(captured.lines.count == Logger.Level.allCases.count)
        for (line, level) in zip(captured.lines, Logger.Level.allCases) {
            for secret in ["ch-s3cret-pw", "otlp-key-123", "pg-pass-77"] { #expect(!line.contains(secret)) }
            let object = try parseJSON(line)
            #expect(object["level"] as? String == level.rawValue)
            #expect(object["message"] as? String == #"key *** and ***.\nFORGED"#, "escaped upstream: one line whatever the data")
            #expect(object["pipeline"] as? String == "requests ***")
            #expect(object["error"] as? String == "auth with *** failed")
            #expect(object["rows"] as? Int == 12)
            #expect((object["nested"] as? String)?.contains("***") == true)
            #expect(object["***"] as? String == "k", "keys are redacted too")
        }
        logger.logLevel = .warning
        logger.info("dropped")
        #expect(captured.lines.count == Logger.Level.allCases.count)
    }

    @Test("command output: text as before, JSON objects with the same redaction")
    func output() throws {
        let captured = CapturedLines()
        let text = OutputLines(format: .text, redactor: Self.redactor, stdout: captured.append, stderr: captured.append)
        text.emit(.stderr, "requests: ok, error: ch-s3cret-pw.\n", fields: ["rows": "3"])
        #expect(captured.lines == [#"requests: ok, error: ***.\n"#])
        let json = OutputLines(format: .json, redactor: Self.redactor, now: { Self.time }, stdout: captured.append, stderr: captured.append)
        json.emit(.stdout, level: .error, "text form", message: "failed: otlp-key-123", fields: ["error": "pg-pass-77", "rows": "3"])
        let object = try parseJSON(captured.lines[1])
        #expect(object["message"] as? String == "failed: ***")
        #expect(object["error"] as? String == "***")
        #expect(object["level"] as? String == "error")
        #expect(object["rows"] as? Int == 3)
        // A usage text of several lines stays one object; its line breaks survive as \n.
        json.emitBlock(.stderr, level: .error, "Error: bad ch-s3cret-pw.\nUsage: otel-bridge run\n\u{1B}[1m\n", fields: ["error": "usage error"])
        #expect(captured.lines.count == 3)
        let usage = try parseJSON(captured.lines[2])
        #expect(usage["message"] as? String == "Error: bad ***.\nUsage: otel-bridge run\n\\u{1B}[1m")
        text.emitBlock(.stderr, level: .error, "Error: ch-s3cret-pw.\nUsage: x \u{1B}[2J\n")
        #expect(captured.lines[3] == "Error: ***.\nUsage: x \\u{1B}[2J")
    }
}
