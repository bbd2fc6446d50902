/// The allow-list of request metadata keys a pipeline exports (`metadata_attributes` in the
/// pipeline file, `BRIDGE_METADATA_ATTRIBUTES` in the environment): each listed key `k` becomes
/// the attribute `portkey.metadata.<k>` wherever a template reads `{metadata_keys:Array(String)}`.
/// Only listed keys reach the export, so a tenant's metadata never multiplies series on its own.
public enum MetadataAttributes {
    /// The query parameter the bridge fills with the list.
    public static let placeholder = "metadata_keys"
    /// Its declared type.
    public static let placeholderType = "Array(String)"
    /// The attribute key prefix of a listed key.
    public static let prefix = "portkey.metadata."
    /// At most this many keys: each is a dimension of every series.
    public static let maxKeys = 16
    /// At most this many characters per key.
    public static let maxKeyLength = 64
    /// The shipped templates truncate values to this many UTF-8 characters (`substringUTF8`).
    public static let maxValueLength = 256

    /// Why `keys` is not a valid list, naming the entry (1-based); `nil` when it is. A key is
    /// 1–64 ASCII letters, digits, `_`, `-` or `.`, listed once.
    public static func problem(_ keys: [String]) -> String? {
        guard keys.count <= maxKeys else { return "\(keys.count) keys, at most \(maxKeys) may be listed" }
        var seen = Set<String>()
        for (i, key) in keys.enumerated() {
            let shown = key.count > 40 ? String(key.prefix(40)) + "…" : key
            guard !key.isEmpty else { return "entry \(i + 1) is empty" }
            guard key.count <= maxKeyLength else { return "entry \(i + 1) ('\(shown)') is longer than \(maxKeyLength) characters" }
            guard key.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }) else {
                return "entry \(i + 1) ('\(shown.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? String($0) : "?" }.joined())') may only contain ASCII letters, digits, '_', '-' and '.'"
            }
            guard seen.insert(key).inserted else { return "entry \(i + 1) ('\(key)') is listed twice" }
        }
        return nil
    }
}
