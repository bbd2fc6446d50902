import CurlHTTP

/// The `key1=value1,key2=value2` lists of `OTEL_EXPORTER_OTLP_HEADERS` and
/// `OTEL_RESOURCE_ATTRIBUTES` (W3C Baggage syntax without properties): the parser of the
/// `.keyValues` and `.headers` kinds of ``EnvironmentVariable``.
///
/// Keys and values are trimmed of surrounding spaces and percent-decoded. Per the OTel
/// specification an invalid list is discarded as a whole with an error: an entry without `=`, an
/// empty key, or a bad percent-escape rejects the list, and the error names the entry's position,
/// not its (possibly secret) value.
public enum KeyValueList {
    public static func parse(_ text: String, variable: String) throws(EnvironmentError) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        let trimmed = text.trimmedForEnvironment
        if trimmed.isEmpty { return [] }
        for (index, rawEntry) in trimmed.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let entry = String(rawEntry).trimmedForEnvironment
            if entry.isEmpty { continue }  // tolerate "a=b,,c=d" and a trailing comma
            guard let eq = entry.firstIndex(of: "=") else {
                throw EnvironmentError(variable: variable, reason: "entry \(index + 1) has no '=' (expected key=value,key2=value2)")
            }
            let rawKey = String(entry[..<eq]).trimmedForEnvironment
            let rawValue = String(entry[entry.index(after: eq)...]).trimmedForEnvironment
            guard let key = URLEncoding.percentDecode(rawKey), !key.isEmpty else {
                throw EnvironmentError(variable: variable, reason: "entry \(index + 1) has an empty or badly encoded key")
            }
            guard let value = URLEncoding.percentDecode(rawValue) else {
                throw EnvironmentError(variable: variable, reason: "entry \(index + 1) (key '\(LogSafe.text(key, limit: 60))') has a bad percent-escape in its value")
            }
            result.append((key, value))
        }
        return result
    }
}

extension KeyValueList {
    /// Header fields the exporter sets itself or that belong to the transport: a list may not set them.
    public static let reservedHeaderNames: Set<String> = [
        "content-type", "content-length", "content-encoding", "transfer-encoding", "host", "connection",
        "expect", "te", "trailer", "upgrade", "keep-alive", "proxy-connection",
    ]

    /// Parses `OTEL_EXPORTER_OTLP_HEADERS`-style lists as ``parse(_:variable:)`` does, then checks
    /// each entry as an HTTP header: the name must be an RFC 9110 token and not one the exporter
    /// sets itself (``reservedHeaderNames``); the decoded value must hold no control character
    /// (CR or LF would inject a header, NUL would cut the value). Errors name the variable and the
    /// entry's position, never the value.
    public static func parseHeaders(_ text: String, variable: String) throws(EnvironmentError) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        let trimmed = text.trimmedForEnvironment
        if trimmed.isEmpty { return [] }
        for (index, rawEntry) in trimmed.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let entry = String(rawEntry).trimmedForEnvironment
            if entry.isEmpty { continue }
            let parsed = try parse(entry, variable: variable, position: index + 1)
            guard let (key, value) = parsed.first else { continue }
            guard LogSafe.isToken(key) else {
                throw EnvironmentError(variable: variable, reason: "entry \(index + 1) has a header name that is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~ only)")
            }
            guard !reservedHeaderNames.contains(key.lowercased()) else {
                throw EnvironmentError(variable: variable, reason: "entry \(index + 1) sets \(key), which the exporter sets itself")
            }
            guard LogSafe.isHeaderValueSafe(value) else {
                throw EnvironmentError(variable: variable, reason: "entry \(index + 1) (\(key)) has a control character (CR, LF, NUL, …) in its decoded value; the value is not shown")
            }
            result.append((key, value))
        }
        return result
    }

    /// One entry, reporting errors at `position` of the whole list.
    static func parse(_ entry: String, variable: String, position: Int) throws(EnvironmentError) -> [(key: String, value: String)] {
        do {
            return try parse(entry, variable: variable)
        } catch {
            var e = error
            e.reason = e.reason.replacingFirst("entry 1", with: "entry \(position)")
            throw e
        }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(ofPlain: target) else { return self }
        return String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
    }

    func range(ofPlain target: String) -> Range<Index>? {
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(target) { return i..<index(i, offsetBy: target.count) }
            i = index(after: i)
        }
        return nil
    }

    var trimmedForEnvironment: String { EnvironmentValues.trim(self) }
}
