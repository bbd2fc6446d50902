/// The parts of the gateway's `request_url` a span and the GenAI metrics need, read without
/// Foundation's URL (which refuses much of what tenants send): anything that does not parse gives
/// empty parts, never an error.
///
/// One definition, over the text's UTF-8 bytes, that `queries/latency.sql` and `queries/tokens.sql`
/// reproduce in ClickHouse SQL byte for byte (`RequestURLSQLTests` runs both over every shape):
/// - the URL ends at its first `?` or `#`;
/// - without `://` it is a bare path (no host);
/// - the scheme, before the first `://`, is one or more ASCII letters, digits, `+`, `-`, `.`, else
///   nothing is read;
/// - the authority runs to the next `/`, where the path starts; userinfo up to its last `@` is
///   dropped; `[…]` is an IPv6 host (a missing `]` reads nothing), else the host ends at the last
///   `:`; a host that is empty or holds a space or control byte reads nothing;
/// - the host is lower-cased in ASCII; a port is 1 to 5 ASCII digits worth 1…65535.
public struct RequestURL: Sendable, Equatable {
    public var scheme: String = ""
    /// The host, lower-cased (ASCII), without brackets for IPv6.
    public var host: String = ""
    /// The explicit port, if any and valid.
    public var port: Int?
    /// The path, without query and fragment.
    public var path: String = ""

    public init(_ text: String) {
        let bytes = Array(text.utf8)
        var end = bytes.firstIndex { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } ?? bytes.endIndex
        let url = bytes[..<end]
        guard let sep = Self.firstIndex(of: Array("://".utf8), in: url) else {
            path = Self.string(url)  // a bare path
            return
        }
        let scheme = url[..<sep]
        guard !scheme.isEmpty, scheme.allSatisfy(Self.isSchemeByte) else { return }
        self.scheme = Self.string(scheme).asciiLowercased
        let rest = url[(sep + 3)...]
        end = rest.firstIndex(of: UInt8(ascii: "/")) ?? rest.endIndex
        var authority = rest[..<end]
        let pathBytes = rest[end...]
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) { authority = authority[(at + 1)...] }
        var hostPart = authority
        var portPart: ArraySlice<UInt8> = []
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return }
            hostPart = authority[(authority.startIndex + 1)..<close]
            let after = authority[(close + 1)...]
            if after.first == UInt8(ascii: ":") { portPart = after.dropFirst() }
        } else if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            hostPart = authority[..<colon]
            portPart = authority[(colon + 1)...]
        }
        guard !hostPart.isEmpty, !hostPart.contains(where: { $0 <= 0x20 }) else { return }
        host = Self.string(hostPart).asciiLowercased
        path = Self.string(pathBytes)
        if (1...5).contains(portPart.count), portPart.allSatisfy({ (0x30...0x39).contains($0) }),
           let p = Int(Self.string(portPart)), (1...65_535).contains(p) {
            port = p
        }
    }

    /// `server.port`: the explicit port when it is not the scheme's default.
    public var nonDefaultPort: Int? {
        guard let port else { return nil }
        switch (scheme, port) {
        case ("https", 443), ("http", 80): return nil
        default: return port
        }
    }

    static func isSchemeByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."): true
        default: false
        }
    }

    static func firstIndex(of needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = haystack.startIndex
        while i + needle.count <= haystack.endIndex {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    /// Bytes cut at ASCII delimiters out of valid UTF-8 are valid UTF-8: decoding repairs nothing.
    static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}

extension String {
    /// Only `A`…`Z` lower-cased, as ClickHouse's `lower` does: every other byte is kept.
    var asciiLowercased: String {
        String(decoding: utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
