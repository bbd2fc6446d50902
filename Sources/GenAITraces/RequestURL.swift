/// The parts of the gateway's `request_url` a span needs, read without Foundation's URL (which
/// refuses much of what tenants send): anything that does not parse gives empty parts, never an error.
public struct RequestURL: Sendable, Equatable {
    public var scheme: String = ""
    /// The host, lower-cased, without brackets for IPv6.
    public var host: String = ""
    /// The explicit port, if any and valid.
    public var port: Int?
    /// The path, without query and fragment.
    public var path: String = ""

    public init(_ text: String) {
        var rest = Substring(text)
        if let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        guard let sep = rest.range(of: "://") else {
            path = String(rest)  // a bare path
            return
        }
        let scheme = rest[..<sep.lowerBound].lowercased()
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }) else { return }
        self.scheme = scheme
        rest = rest[sep.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        path = String(rest[authorityEnd...])
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var hostPart = authority
        var portPart: Substring = ""
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { path = ""; return }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty, !hostPart.contains(where: { $0 == " " || $0.asciiValue.map { $0 < 0x20 } == true }) else {
            path = ""
            return
        }
        host = hostPart.lowercased()
        if !portPart.isEmpty, portPart.count <= 5, portPart.allSatisfy(\.isASCIIDigit), let p = Int(portPart), (1...65_535).contains(p) {
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
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
