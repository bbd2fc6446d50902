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

    /// Nothing read.
    init() {}

    public init(_ text: String) {
        var text = text
        self = text.withUTF8 { bytes in
            let parts = Parts(bytes)
            var url = RequestURL()
            guard parts.parsed else { return url }
            url.scheme = Self.string(bytes, parts.scheme).asciiLowercased
            url.host = Self.string(bytes, parts.host).asciiLowercased
            url.path = Self.string(bytes, parts.path)
            url.port = parts.port
            return url
        }
    }

    /// Where the parts lie in the URL's bytes, found without copying or allocating: the one
    /// reading of the definition above, which ``init(_:)`` and the span mapping share.
    struct Parts {
        /// Something was read: a bare path, or a scheme (and maybe a host and path).
        var parsed = false
        var scheme = 0..<0
        var host = 0..<0
        var path = 0..<0
        var port: Int?

        init(_ bytes: UnsafeBufferPointer<UInt8>) {
            var end = 0
            while end < bytes.count, bytes[end] != UInt8(ascii: "?"), bytes[end] != UInt8(ascii: "#") { end += 1 }
            guard let sep = Self.schemeSeparator(bytes, end: end) else {
                path = 0..<end  // a bare path
                parsed = true
                return
            }
            guard sep > 0, (0..<sep).allSatisfy({ RequestURL.isSchemeByte(bytes[$0]) }) else { return }
            scheme = 0..<sep
            parsed = true
            let restStart = sep + 3
            var slash = restStart
            while slash < end, bytes[slash] != UInt8(ascii: "/") { slash += 1 }
            var authority = restStart..<slash
            if let at = Self.lastIndex(of: UInt8(ascii: "@"), in: bytes, authority) { authority = (at + 1)..<slash }
            var hostPart = authority
            var portPart = 0..<0
            if !authority.isEmpty, bytes[authority.lowerBound] == UInt8(ascii: "[") {
                var close = authority.lowerBound
                while close < authority.upperBound, bytes[close] != UInt8(ascii: "]") { close += 1 }
                guard close < authority.upperBound else { return }
                hostPart = (authority.lowerBound + 1)..<close
                if close + 1 < authority.upperBound, bytes[close + 1] == UInt8(ascii: ":") { portPart = (close + 2)..<authority.upperBound }
            } else if let colon = Self.lastIndex(of: UInt8(ascii: ":"), in: bytes, authority) {
                hostPart = authority.lowerBound..<colon
                portPart = (colon + 1)..<authority.upperBound
            }
            guard !hostPart.isEmpty, !hostPart.contains(where: { bytes[$0] <= 0x20 }) else { return }
            host = hostPart
            path = slash..<end
            if (1...5).contains(portPart.count), portPart.allSatisfy({ (0x30...0x39).contains(bytes[$0]) }) {
                var p = 0
                for i in portPart { p = p * 10 + Int(bytes[i] &- 0x30) }
                if (1...65_535).contains(p) { port = p }
            }
        }

        /// The first `://` before `end`.
        static func schemeSeparator(_ bytes: UnsafeBufferPointer<UInt8>, end: Int) -> Int? {
            var i = 0
            while i + 3 <= end {
                if bytes[i] == UInt8(ascii: ":"), bytes[i + 1] == UInt8(ascii: "/"), bytes[i + 2] == UInt8(ascii: "/") { return i }
                i += 1
            }
            return nil
        }

        static func lastIndex(of byte: UInt8, in bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int? {
            var i = range.upperBound
            while i > range.lowerBound {
                i -= 1
                if bytes[i] == byte { return i }
            }
            return nil
        }

        /// `server.port`: the explicit port when it is not the scheme's default (the scheme
        /// compared as ``RequestURL/scheme`` is: lower-cased).
        func nonDefaultPort(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
            guard let port else { return nil }
            if port == 443, RequestURL.equalsLowercased(bytes, scheme, "https") { return nil }
            if port == 80, RequestURL.equalsLowercased(bytes, scheme, "http") { return nil }
            return port
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

    /// The bytes of `range`, ASCII-lower-cased, are `literal`'s (which is lower-case ASCII).
    @inline(__always)
    static func equalsLowercased(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let l = literal.utf8Start
        var j = 0
        for i in range {
            let b = bytes[i]
            if ((0x41...0x5A).contains(b) ? b | 0x20 : b) != l[j] { return false }
            j += 1
        }
        return true
    }

    /// Bytes cut at ASCII delimiters out of valid UTF-8 are valid UTF-8: decoding repairs nothing.
    static func string(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        range.isEmpty ? "" : String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }
}

extension String {
    /// Only `A`…`Z` lower-cased, as ClickHouse's `lower` does: every other byte is kept.
    var asciiLowercased: String {
        guard utf8.contains(where: { (0x41...0x5A).contains($0) }) else { return self }
        return String(decoding: utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}
