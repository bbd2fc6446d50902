import CurlHTTP

/// The `key1=value1,key2=value2` lists of `OTEL_EXPORTER_OTLP_HEADERS` and
/// `OTEL_RESOURCE_ATTRIBUTES` (W3C Baggage syntax without properties).
///
/// Keys and values are trimmed of surrounding spaces and percent-decoded. Per the OTel
/// specification an invalid list is discarded as a whole with an error: an entry without `=`, an
/// empty key, or a bad percent-escape rejects the list, and the error names the entry's position,
/// not its (possibly secret) value.
public enum KeyValueList {
    public static func parse(_ text: String, variable: String) throws(OTLPConfigurationError) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = []
        let trimmed = text.trimmedSpaces
        if trimmed.isEmpty { return [] }
        for (index, rawEntry) in trimmed.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let entry = String(rawEntry).trimmedSpaces
            if entry.isEmpty { continue }  // tolerate "a=b,,c=d" and a trailing comma
            guard let eq = entry.firstIndex(of: "=") else {
                throw OTLPConfigurationError(variable: variable, reason: "entry \(index + 1) has no '=' (expected key=value,key2=value2)")
            }
            let rawKey = String(entry[..<eq]).trimmedSpaces
            let rawValue = String(entry[entry.index(after: eq)...]).trimmedSpaces
            guard let key = URLEncoding.percentDecode(rawKey), !key.isEmpty else {
                throw OTLPConfigurationError(variable: variable, reason: "entry \(index + 1) has an empty or badly encoded key")
            }
            guard let value = URLEncoding.percentDecode(rawValue) else {
                throw OTLPConfigurationError(variable: variable, reason: "entry \(index + 1) (key '\(key)') has a bad percent-escape in its value")
            }
            result.append((key, value))
        }
        return result
    }
}

extension String {
    var trimmedSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
