import Rollup
import CurlHTTP
import Environment
import Foundation
import Synchronization
import Logging
import UTCTime

/// How the process writes its lines (`LOG_FORMAT`): readable text, or one JSON object per line
/// for the log collectors of Kubernetes (Fluent Bit, Vector, the OTel Collector's filelog receiver).
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-12-01T17:40:44+0000 info otel-bridge: pipeline=requests pass finished` (swift-log's
    /// stream format), summaries and errors as plain lines. The default.
    case text
    /// One JSON object per line, on stdout and stderr alike (see ``JSONLogLine``).
    case json

    /// `LOG_FORMAT` (case-insensitive; unset or empty: `text`), read as ``BridgeConfiguration``
    /// reads it; `main` needs it before anything else. Any other value is a configuration error
    /// naming the variable and the accepted values.
    public init(environment: EnvironmentValues) throws(BridgeError) {
        self = try LogFormat.settings(environment: environment).format
    }
}

/// One log line as a JSON object: `time` (RFC 3339 UTC, milliseconds), `level`, `message`, then
/// the fields collectors index when known (`pipeline`, `window`, `rows`, `points`, `duration`,
/// `error`), then every other field in key order. `rows`, `points` and other counts whose text
/// is a plain integer are JSON numbers; everything else is a string.
///
/// The text is encoded as given: redact it first (``Redactor``). Whatever it holds, the result is
/// one line of valid JSON: quotes, backslashes and every control character are escaped, and so
/// are the line and paragraph separators (U+2028, U+2029) that JavaScript readers take for line
/// ends.
public struct JSONLogLine: Sendable {
    public var time: Int64
    public var level: Logger.Level
    public var message: String
    public var fields: [String: String]

    public init(time: Int64, level: Logger.Level, message: String, fields: [String: String] = [:]) {
        self.time = time
        self.level = level
        self.message = message
        self.fields = fields
    }

    /// The fields that come first, in this order, after time, level and message.
    public static let leadingKeys = ["pipeline", "window", "rows", "points", "duration", "error"]
    /// Fields written as JSON numbers when their text is an integer.
    public static let integerKeys: Set<String> = ["rows", "points", "batches", "rejected", "merged_rows", "series", "series_reset", "done", "total", "attempts"]
    static let reservedKeys: Set<String> = ["time", "level", "message"]

    /// `2026-12-01T17:40:44.123Z`: RFC 3339 in UTC with milliseconds (truncated).
    public static func rfc3339(_ unixNanoseconds: Int64) -> String {
        let text = UTCInstant(unixNanoseconds: unixNanoseconds).clickHouseDateTime64  // YYYY-MM-DD hh:mm:ss.fffffffff
        return String(text.prefix(10)) + "T" + String(text.dropFirst(11).prefix(12)) + "Z"
    }

    /// The object, without a line end.
    public var encoded: String {
        var out = "{\"time\":\"" + Self.rfc3339(time) + "\",\"level\":\"" + level.rawValue + "\",\"message\":"
        Self.appendString(message, to: &out)
        var keys = Self.leadingKeys.filter { fields[$0] != nil }
        let leading = Set(keys)
        keys += fields.keys.filter { !leading.contains($0) }.sorted()
        for key in keys {
            guard let value = fields[key] else { continue }
            // A field named like one of the three fixed keys would make a duplicate key.
            let name = Self.reservedKeys.contains(key) ? "field." + key : key
            out += ","
            Self.appendString(name, to: &out)
            out += ":"
            if Self.integerKeys.contains(key), Self.isInteger(value) {
                out += value
            } else {
                Self.appendString(value, to: &out)
            }
        }
        out += "}"
        return out
    }

    static func isInteger(_ text: String) -> Bool {
        // What JSON and Int64 both accept: -?(0|[1-9][0-9]*), at most 18 digits.
        let digits = text.hasPrefix("-") ? text.utf8.dropFirst() : text.utf8[...]
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        // No leading zero, and no "-0": the number must read back as the same text.
        return digits.count == 1 ? !(text.hasPrefix("-") && digits.first == 0x30) : digits.first != 0x30
    }

    /// Appends `text` as a JSON string literal (RFC 8259).
    public static func appendString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// Writes whole lines to stdout or stderr, one `write(2)` per line under one lock, so lines of
/// different threads never interleave and a line is never cut by another.
public final class LineWriter: Sendable {
    public static let standardOutput = LineWriter(fileDescriptor: STDOUT_FILENO)
    public static let standardError = LineWriter(fileDescriptor: STDERR_FILENO)

    let fileDescriptor: Int32
    /// The one lock both writers take, holding the status line shown on stderr, if any: a
    /// terminal progress bar on stderr must know of stdout lines too.
    static let status = Mutex<String?>(nil)

    init(fileDescriptor: Int32) { self.fileDescriptor = fileDescriptor }

    /// Writes `line` and a line end.
    public func write(line: String) {
        Self.aroundStatus { writeUnlocked(line + "\n") }
    }

    /// Runs `body` holding the lock every line writer takes (not reentrant), with the status line.
    static func withLock<T: Sendable>(_ body: (inout String?) -> T) -> T {
        status.withLock { body(&$0) }
    }

    func writeUnlocked(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { buffer in
                Foundation.write(fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return  // a closed pipe: nothing more can be shown
            }
        }
    }
}

/// The process's output in its ``LogFormat``: every line the commands print (summaries, errors,
/// dry-run points, validate checks, tables) goes through here, secrets removed by the same
/// ``Redactor`` the log handler uses.
public struct OutputLines: Sendable {
    public let format: LogFormat
    public let redact: Redactor
    let now: @Sendable () -> Int64
    let stdout: @Sendable (String) -> Void
    let stderr: @Sendable (String) -> Void

    public init(format: LogFormat, redactor: Redactor, now: @escaping @Sendable () -> Int64 = { UTCInstant.now.unixNanoseconds },
                stdout: @escaping @Sendable (String) -> Void = { LineWriter.standardOutput.write(line: $0) },
                stderr: @escaping @Sendable (String) -> Void = { LineWriter.standardError.write(line: $0) }) {
        self.format = format
        self.redact = redactor
        self.now = now
        self.stdout = stdout
        self.stderr = stderr
    }

    public enum Stream: Sendable { case stdout, stderr }

    /// Writes one line: in text format `text` (redacted, one line); in JSON an object whose
    /// message is `message ?? text` with `fields` (each redacted).
    public func emit(_ stream: Stream, level: Logger.Level = .info, _ text: String, message: String? = nil, fields: [String: String] = [:]) {
        let line: String
        switch format {
        case .text:
            line = redact(text)
        case .json:
            line = JSONLogLine(time: now(), level: level, message: redact(message ?? text), fields: fields.mapValues { redact($0) }).encoded
        }
        switch stream {
        case .stdout: stdout(line)
        case .stderr: stderr(line)
        }
    }

    /// Writes text of several lines meant for a person (usage, help): its line breaks kept, each
    /// line without secrets and with its control characters escaped (an argument's value is
    /// quoted in it); in JSON one object whose message holds the whole text.
    public func emitBlock(_ stream: Stream, level: Logger.Level, _ text: String, fields: [String: String] = [:]) {
        var message = redact.secretsRemoved(text).split(separator: "\n", omittingEmptySubsequences: false)
            .map { LogSafe.text(String($0), limit: 16_000) }
            .joined(separator: "\n")
        while message.hasSuffix("\n") { message.removeLast() }
        switch format {
        case .text:
            emitRaw(stream, message)
        case .json:
            emitRaw(stream, JSONLogLine(time: now(), level: level, message: message, fields: fields.mapValues { redact($0) }).encoded)
        }
    }

    private func emitRaw(_ stream: Stream, _ line: String) {
        switch stream {
        case .stdout: stdout(line)
        case .stderr: stderr(line)
        }
    }
}

extension Redactor {
    /// `text` with every secret replaced by `***`, nothing else changed (line breaks kept).
    public func secretsRemoved(_ text: String) -> String {
        var out = text
        for secret in secrets where out.contains(secret) {
            out = out.replacingOccurrences(of: secret, with: "***")
        }
        return out
    }
}

/// A swift-log handler writing ``JSONLogLine``s to stderr. Message, metadata values (the
/// logger's own and the event's) and keys all pass through the ``Redactor``.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let redact: Redactor
    let now: @Sendable () -> Int64
    let write: @Sendable (String) -> Void

    public init(label: String, level: Logger.Level, redactor: Redactor, now: @escaping @Sendable () -> Int64 = { UTCInstant.now.unixNanoseconds },
                write: @escaping @Sendable (String) -> Void = { LineWriter.standardError.write(line: $0) }) {
        self.label = label
        self.logLevel = level
        self.redact = redactor
        self.now = now
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        var fields: [String: String] = [:]
        for (key, value) in merged {
            fields[redact(key, limit: 100)] = redact(Self.text(value))
        }
        write(JSONLogLine(time: now(), level: event.level, message: redact(event.message.description), fields: fields).encoded)
    }

    /// A metadata value as one string (lists and dictionaries in swift-log's own rendering).
    static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        default: value.description
        }
    }
}

extension LogFormat {
    /// `LOG_FORMAT` and `LOG_LEVEL`, which `main` needs before anything else.
    public static func settings(environment: EnvironmentValues) throws(BridgeError) -> (format: LogFormat, level: Logger.Level) {
        do {
            return try settings(environment)
        } catch {
            throw BridgeError(.configuration, error.reason, key: error.variable)
        }
    }

    package static func settings(_ env: EnvironmentValues) throws(EnvironmentError) -> (format: LogFormat, level: Logger.Level) {
        (try env.choice(.logFormat).flatMap(LogFormat.init(rawValue:)) ?? .text,
         try env.choice(.logLevel).flatMap(Logger.Level.init(rawValue:)) ?? .info)
    }
}

/// The version the bridge reports (its instrumentation scope, `--version`).
public enum BridgeVersion {
    public static let current = "0.1.0"
}
