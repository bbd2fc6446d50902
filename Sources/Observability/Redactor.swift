import Rollup
import CurlHTTP
import Foundation
import Logging
import Postgres

/// Removes every configured secret from text before it is logged, printed or stored: passwords
/// (`CLICKHOUSE_PASSWORD`, the password of any URL or conninfo the bridge is given,
/// `PGPASSWORD`) and the value of every configured OTLP header, each also in its percent-encoded
/// and percent-decoded forms. Secrets shorter than ``minimumLength`` are not searched for (they
/// would blank out ordinary words); then every line is made one line by `LogSafe`.
public struct Redactor: Sendable {
    public static let minimumLength = 3
    public private(set) var secrets: [String]

    public init(secrets: [String]) {
        var all = Set<String>()
        for s in secrets where s.count >= Self.minimumLength {
            all.insert(s)
            if let decoded = s.removingPercentEncoding, decoded.count >= Self.minimumLength { all.insert(decoded) }
            if let encoded = s.addingPercentEncoding(withAllowedCharacters: .alphanumerics), encoded.count >= Self.minimumLength { all.insert(encoded) }
            let trimmed = s.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.count >= Self.minimumLength { all.insert(trimmed) }
        }
        // Longest first, so a secret containing another is removed whole.
        self.secrets = all.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }

    /// The secrets in the bridge's environment.
    public init(environment env: [String: String]) {
        var found: [String] = []
        for (name, value) in env where !value.isEmpty {
            if name == "CLICKHOUSE_PASSWORD" || name == "PGPASSWORD" {
                found.append(value)
            } else if name.hasSuffix("_HEADERS") && (name.hasPrefix("OTEL_") || name.hasPrefix("EXPERIMENTAL_GEN_AI_OTEL_")) {
                for entry in value.split(separator: ",") {
                    if let eq = entry.firstIndex(of: "=") { found.append(String(entry[entry.index(after: eq)...])) }
                }
            } else if name == "CHECKPOINT_DATABASE_URL" {
                found += PostgresConnection.secrets(in: value)
            } else if name.hasSuffix("_URL") || name.hasSuffix("_ENDPOINT") {
                found += Self.urlPasswords(value)
            }
        }
        self.init(secrets: found)
    }

    /// The password of a URL (`scheme://user:password@host`, also without a scheme, and with
    /// unencoded `/`, `?`, `#` or `@` in the password: the userinfo ends at the last `@`).
    static func urlPasswords(_ text: String) -> [String] {
        var rest = Substring(text)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        guard let at = rest.lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") else { return [] }
        let password = rest[rest.index(after: colon)..<at]
        return password.isEmpty ? [] : [String(password)]
    }

    /// `text` with every secret replaced by `***`, on one line.
    public func callAsFunction(_ text: String, limit: Int = 4_000) -> String {
        var out = text
        for secret in secrets where out.contains(secret) {
            out = out.replacingOccurrences(of: secret, with: "***")
        }
        return LogSafe.isPlain(out, limit: limit) ? out : LogSafe.text(out, limit: limit)
    }
}

/// A log handler that passes every message and metadata value through a ``Redactor`` before
/// another handler writes it: no configured secret and no control character from data reaches a
/// log line, whoever logs it.
public struct RedactingLogHandler: WrappingLogHandler {
    public var inner: any LogHandler
    public let redact: Redactor

    public init(_ inner: any LogHandler, redactor: Redactor) {
        self.inner = inner
        self.redact = redactor
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: redact(event.message.description))
        event.metadata = event.metadata.map { $0.mapValues { .string(redact($0.description)) } }
        inner.log(event: event)
    }
}

/// A log handler around another: the level and metadata are the inner handler's; only `log`
/// adds something.
public protocol WrappingLogHandler: LogHandler {
    var inner: any LogHandler { get set }
}

extension WrappingLogHandler {
    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }
}
