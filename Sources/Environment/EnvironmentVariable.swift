/// One environment variable the bridge reads: a row of ``EnvironmentVariable/all``.
///
/// The row is the whole contract of the variable: its name, the other spellings that mean the
/// same, its default as the README states it, and its kind, which picks the one parser of that
/// kind of value and carries its range (``EnvironmentValues`` does the reading).
public struct EnvironmentVariable: Sendable, Hashable, CustomStringConvertible {
    /// What a value must look like; each kind has one parser (``EnvironmentValues``).
    public enum Kind: Sendable, Hashable {
        /// Free text, trimmed.
        case text
        /// A user name, password or database name that goes into a header: taken as is, but one
        /// trailing line break (a Kubernetes Secret file's) is dropped; any other control
        /// character is refused. Never echoed.
        case credential
        /// An `http://` or `https://` URL. Never echoed (it may hold a password).
        case url
        /// A libpq URI or conninfo. Checked by the component that uses it; never echoed.
        case connectionString
        /// The path of a file that must be readable when the configuration is read.
        case file
        /// A path, read later by the component that uses it.
        case path
        /// `true`/`false`, `1`/`0`, `yes`/`no` in any case (``EnvironmentValues/parseBoolean(_:)``),
        /// plus words of the variable's own that mean on or off.
        case boolean(on: [String] = [], off: [String] = [])
        /// A whole number within the range.
        case integer(ClosedRange<Int64>)
        /// A number of seconds (a decimal) within the range, kept to the millisecond (rounded up).
        case seconds(ClosedRange<Double>)
        /// A whole number of milliseconds within the range (the OTel specification's timeouts).
        case milliseconds(ClosedRange<Int64>)
        /// One of the words, in any case; `refused` names words that are known but not supported,
        /// with the reason.
        case choice([String], refused: [String: String] = [:])
        /// An ISO 8601 UTC time.
        case instant
        /// A duration like `90s`, `15m`, `1h`, `1d` or a number of seconds, as in the YAML, within
        /// the range of whole seconds.
        case duration(ClosedRange<Int64>)
        /// A comma-separated list of words, trimmed; empty entries dropped.
        case list
        /// `k=v,k2=v2`, percent-decoded (W3C Baggage without properties); a value may hold `=`.
        case keyValues
        /// As ``keyValues``, each entry an HTTP header; the values are secrets.
        case headers
    }

    /// The name the README documents.
    public let name: String
    /// Other spellings that mean the same (the gateway's own): setting two of them to different
    /// values is an error naming both.
    public let aliases: [String]
    /// Where an alias comes from, for `validate` and the errors (`the gateway code's spelling`).
    public let aliasOrigin: String
    public let kind: Kind
    /// The default as the README states it (`—` when unset means "none").
    public let defaultText: String

    public init(_ name: String, _ kind: Kind, default defaultText: String = "—", aliases: [String] = [], aliasOrigin: String = "") {
        self.name = name
        self.kind = kind
        self.defaultText = defaultText
        self.aliases = aliases
        self.aliasOrigin = aliasOrigin
    }

    /// Every spelling, the documented name first.
    public var spellings: [String] { [name] + aliases }

    /// Values that may hold a password or a header value: never echoed in an error.
    public var isSecret: Bool {
        switch kind {
        case .credential, .url, .connectionString, .headers: true
        default: false
        }
    }

    public var isBoolean: Bool {
        if case .boolean = kind { return true }
        return false
    }

    public var description: String { name }

    public static func == (a: Self, b: Self) -> Bool { a.name == b.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    /// What the variable accepts, in words, for errors and docs.
    public var accepted: String {
        switch kind {
        case .text, .path, .connectionString: "text"
        case .credential: "text without control characters"
        case .url: "an http:// or https:// URL"
        case .file: "the path of a readable file"
        case .boolean(let on, let off): "true or false (also 1/0, yes/no\(on.isEmpty ? "" : ", " + (on + off).joined(separator: "/")))"
        case .integer(let r): "a whole number from \(r.lowerBound) to \(r.upperBound)"
        case .seconds(let r): "a number of seconds from \(Self.number(r.lowerBound)) to \(Self.number(r.upperBound))"
        case .milliseconds(let r): "whole milliseconds within \(r.lowerBound)…\(r.upperBound)"
        case .choice(let words, _): "one of \(words.joined(separator: ", "))"
        case .instant: "an ISO 8601 UTC time such as 2026-11-01T00:00:00Z"
        case .duration(let r): "a duration like 90s, 15m, 1h, 1d or a number of seconds, from \(r.lowerBound) s to \(r.upperBound) s"
        case .list: "a comma-separated list"
        case .keyValues, .headers: "key=value,key2=value2"
        }
    }

    static func number(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}
