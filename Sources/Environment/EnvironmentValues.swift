import CurlHTTP
import UTCTime

/// The environment, injected (tests pass their own), read through the table
/// (``EnvironmentVariable/all``) with one parser per kind of value.
///
/// Every value is trimmed of surrounding spaces and tabs (``trim(_:)``), except credentials,
/// which are taken as they are; empty means unset. A variable with several spellings (the
/// gateway's own) is read from whichever is set; two set to different values are an error naming
/// both. Errors name the variable and never echo a secret (``EnvironmentVariable/isSecret``).
public struct EnvironmentValues: Sendable, ExpressibleByDictionaryLiteral {
    public let values: [String: String]

    public init(_ values: [String: String]) {
        self.values = values
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }

    /// The one trim: surrounding spaces and tabs.
    public static func trim(_ text: String) -> String {
        var s = Substring(text)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }

    /// The one boolean parser: `true`, `1`, `yes` are on; `false`, `0`, `no` are off; in any case,
    /// trimmed. Anything else is `nil`.
    public static func parseBoolean(_ text: String) -> Bool? {
        switch trim(text).lowercased() {
        case "true", "1", "yes": true
        case "false", "0", "no": false
        default: nil
        }
    }

    // MARK: Lookup

    /// A variable's text as set (trimmed unless it is a credential), and the spelling it was read
    /// from; `nil` when no spelling is set or every one is empty.
    public func lookup(_ variable: EnvironmentVariable) throws(EnvironmentError) -> (spelling: String, text: String)? {
        assert(EnvironmentVariable.named(variable.name) != nil, "\(variable.name) is not in EnvironmentVariable.all")
        var found: [(spelling: String, text: String)] = []
        for spelling in variable.spellings {
            guard let raw = values[spelling] else { continue }
            let text = variable.kind == .credential ? raw : Self.trim(raw)
            if !text.isEmpty { found.append((spelling, text)) }
        }
        guard let first = found.first else { return nil }
        for other in found.dropFirst() where !sameMeaning(first.text, other.text, variable) {
            throw EnvironmentError(variable: variable.name,
                reason: "\(first.spelling) and \(other.spelling) (\(variable.aliasOrigin.isEmpty ? "another spelling" : variable.aliasOrigin)) are both set, to different values"
                    + (variable.isSecret ? " (not shown)" : ": '\(LogSafe.text(first.text, limit: 40))' and '\(LogSafe.text(other.text, limit: 40))'")
                    + "; they mean the same setting: set one, or both to the same value")
        }
        return first
    }

    /// Which spelling of `variable` is set (for `validate`); `nil` when none is, or when two
    /// disagree (reading the variable is then the error).
    public func spelling(of variable: EnvironmentVariable) -> String? {
        (try? lookup(variable))?.spelling
    }

    private func sameMeaning(_ a: String, _ b: String, _ variable: EnvironmentVariable) -> Bool {
        if a == b { return true }
        if case .boolean = variable.kind, let x = try? boolean(("", a), variable), let y = try? boolean(("", b), variable) { return x == y }
        return false
    }

    /// An error naming the spelling that was read.
    private func fail(_ variable: EnvironmentVariable, _ found: (spelling: String, text: String), _ expected: String? = nil) -> EnvironmentError {
        let shown = variable.isSecret ? "the value is not shown" : "not '\(LogSafe.text(found.text, limit: 64))'"
        return EnvironmentError(variable: found.spelling, reason: "expected \(expected ?? variable.accepted), \(shown)")
    }

    // MARK: One parser per kind

    /// `.text`, `.path`, `.connectionString`: the trimmed text.
    public func text(_ variable: EnvironmentVariable) throws(EnvironmentError) -> String? {
        try lookup(variable)?.text
    }

    /// `.boolean`.
    public func bool(_ variable: EnvironmentVariable) throws(EnvironmentError) -> Bool? {
        guard let found = try lookup(variable) else { return nil }
        return try boolean(found, variable)
    }

    private func boolean(_ found: (spelling: String, text: String), _ variable: EnvironmentVariable) throws(EnvironmentError) -> Bool {
        if let b = Self.parseBoolean(found.text) { return b }
        if case .boolean(let on, let off) = variable.kind {
            if on.contains(found.text.lowercased()) { return true }
            if off.contains(found.text.lowercased()) { return false }
        }
        throw fail(variable, found)
    }

    /// `.integer`.
    public func integer(_ variable: EnvironmentVariable) throws(EnvironmentError) -> Int64? {
        guard let found = try lookup(variable) else { return nil }
        let text = found.text
        guard case .integer(let range) = variable.kind, let n = Int64(text), range.contains(n) else { throw fail(variable, found) }
        return n
    }

    /// `.seconds`: checked as a `Double` before any conversion (1e20, NaN, inf and negatives
    /// never reach an integer), kept to the millisecond, rounded up.
    public func seconds(_ variable: EnvironmentVariable) throws(EnvironmentError) -> Duration? {
        guard let found = try lookup(variable) else { return nil }
        let text = found.text
        guard case .seconds(let range) = variable.kind, let s = Double(text), s.isFinite, range.contains(s),
              let d = Duration(seconds: s, roundingMilliseconds: .up)
        else { throw fail(variable, found) }
        return d
    }

    /// `.milliseconds`: digits only, as the OTel specification has them.
    public func milliseconds(_ variable: EnvironmentVariable) throws(EnvironmentError) -> Duration? {
        guard let found = try lookup(variable) else { return nil }
        let text = found.text
        guard case .milliseconds(let range) = variable.kind, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              text.utf8.count <= 10, let ms = Int64(text), range.contains(ms)
        else { throw fail(variable, found) }
        return .milliseconds(ms)
    }

    /// `.choice`: one of the words, lowercased.
    public func choice(_ variable: EnvironmentVariable) throws(EnvironmentError) -> String? {
        guard let found = try lookup(variable) else { return nil }
        let text = found.text
        guard case .choice(let words, let refused) = variable.kind else { throw fail(variable, found) }
        let word = text.lowercased()
        if let why = refused[word] { throw EnvironmentError(variable: found.spelling, reason: why) }
        guard words.contains(word) else { throw fail(variable, found) }
        return word
    }

    /// `.instant`: Unix nanoseconds.
    public func instant(_ variable: EnvironmentVariable) throws(EnvironmentError) -> Int64? {
        guard let found = try lookup(variable) else { return nil }
        let text = found.text
        guard let t = UTCInstant(iso8601: text)?.unixNanoseconds else {
            throw fail(variable, found, "\(variable.accepted) between the years \(UTCInstant.representableYears.lowerBound) and \(UTCInstant.representableYears.upperBound)")
        }
        return t
    }

    /// `.duration`: whole seconds.
    public func duration(_ variable: EnvironmentVariable) throws(EnvironmentError) -> Int64? {
        guard let found = try lookup(variable) else { return nil }
        let text = found.text
        guard case .duration(let range) = variable.kind, let s = Self.parseDuration(text), range.contains(s) else { throw fail(variable, found) }
        return s
    }

    /// `60s`, `2m`, `1h`, `1d` or a number of seconds, as the pipeline file's durations.
    static func parseDuration(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("s", 1), ("m", 60), ("h", 3_600), ("d", 86_400)]
        var digits = Substring(text), factor: Int64 = 1
        if let (suffix, f) = units.first(where: { text.hasSuffix($0.0) }) {
            digits = digits.dropLast(suffix.count)
            factor = f
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int64(digits) else { return nil }
        let (seconds, overflow) = n.multipliedReportingOverflow(by: factor)
        return overflow ? nil : seconds
    }

    /// `.list`: the entries, trimmed, empty ones dropped; none may hold a control character.
    public func list(_ variable: EnvironmentVariable) throws(EnvironmentError) -> [String] {
        guard let found = try lookup(variable) else { return [] }
        let text = found.text
        let entries = text.split(separator: ",").map { Self.trim(String($0)) }.filter { !$0.isEmpty }
        for (i, entry) in entries.enumerated() where !LogSafe.isPlain(entry, limit: 256) {
            throw EnvironmentError(variable: found.spelling, reason: "entry \(i + 1) holds a control character or is longer than 256 characters")
        }
        return entries
    }

    /// `.credential`: one trailing line break (`\n`, `\r\n` or `\r`) dropped; no other control
    /// character. The value is never echoed.
    public func credential(_ variable: EnvironmentVariable) throws(EnvironmentError) -> String? {
        guard let found = try lookup(variable) else { return nil }
        let raw = found.text
        var bytes = Array(raw.utf8)
        if bytes.last == 0x0A {
            bytes.removeLast()
            if bytes.last == 0x0D { bytes.removeLast() }
        } else if bytes.last == 0x0D {
            bytes.removeLast()
        }
        let text = String(decoding: bytes, as: UTF8.self)
        guard LogSafe.isHeaderValueSafe(text), !text.utf8.contains(0x09) else {
            throw EnvironmentError(variable: found.spelling, reason: "contains a control character (other than one trailing line break); its value is not shown")
        }
        return text
    }

    /// `.url`: `http://` or `https://`, a well-formed host part, nothing a header could not carry.
    /// Never echoed: the URL may hold a password.
    public func url(_ variable: EnvironmentVariable) throws(EnvironmentError) -> String? {
        guard let found = try lookup(variable) else { return nil }
        let url = found.text
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw EnvironmentError(variable: found.spelling, reason: "expected an http:// or https:// URL (the value is not shown, as it may hold credentials)")
        }
        guard HTTPError.isWellFormedHTTPURL(url), LogSafe.isHeaderValueSafe(url), !url.contains(" ") else {
            throw EnvironmentError(variable: found.spelling, reason: "not a valid http(s) URL: its host part must be host[:port] (percent-encode '/', '?', '#' and '@' in credentials); the value is not shown")
        }
        return url
    }

    /// `.file`: a path to a file readable now.
    public func file(_ variable: EnvironmentVariable) throws(EnvironmentError) -> String? {
        guard let found = try lookup(variable) else { return nil }
        let path = found.text
        if let why = TLSConfiguration.unreadableReason(path) {
            throw EnvironmentError(variable: found.spelling, reason: LogSafe.text(why))
        }
        return path
    }
}
