import CCurl

/// A transport failure: the request did not produce a complete HTTP response.
///
/// HTTP status codes are not errors at this level; the ClickHouse and OTLP clients decide what a
/// status means. `description` names the URL without its query string (which may carry values the
/// caller considers private) and never a header value.
public struct HTTPError: Error, CustomStringConvertible, CustomDebugStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidRequest, connectionFailed, timeout, tls, connectionLost, transferFailed, bodyTooLarge
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The request could not be set up (bad URL, unsupported scheme, bad option).
        public static let invalidRequest = Code(.invalidRequest)
        /// Name resolution or TCP connect failed: nothing was sent.
        public static let connectionFailed = Code(.connectionFailed)
        /// The connect or total timeout expired.
        public static let timeout = Code(.timeout)
        /// Certificate verification or the TLS handshake failed.
        public static let tls = Code(.tls)
        /// The connection broke after the request started (reset, truncated body, empty reply).
        public static let connectionLost = Code(.connectionLost)
        /// Any other libcurl failure.
        public static let transferFailed = Code(.transferFailed)
        /// The body exceeded the size the caller allowed.
        public static let bodyTooLarge = Code(.bodyTooLarge)

        public var description: String {
            switch base {
            case .invalidRequest: "invalid request"
            case .connectionFailed: "connection failed"
            case .timeout: "timed out"
            case .tls: "TLS failure"
            case .connectionLost: "connection lost"
            case .transferFailed: "transfer failed"
            case .bodyTooLarge: "body too large"
            }
        }
    }

    public var code: Code
    /// The URL without query string or credentials.
    public var endpoint: String
    /// libcurl's result code (`CURLcode`), 0 when the failure is ours.
    public var curlCode: Int32
    /// libcurl's explanation (`curl_easy_strerror` and the error buffer).
    public var message: String
    public var file: String
    public var line: Int

    public init(
        code: Code, endpoint: String, curlCode: Int32 = 0, message: String,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.endpoint = endpoint
        self.curlCode = curlCode
        self.message = message
        self.file = file
        self.line = line
    }

    /// Whether sending the same request again may succeed (connect failures, timeouts, broken
    /// connections): the OTLP spec's "retryable" transport errors.
    public var isTransient: Bool {
        code == .connectionFailed || code == .timeout || code == .connectionLost
    }

    public var description: String {
        "HTTP request to \(endpoint) failed: \(code): \(message)"
    }

    public var debugDescription: String {
        "HTTPError(code: \(code), endpoint: \(endpoint), curlCode: \(curlCode), message: \(message), at: \(file):\(line))"
    }

    static func code(for result: CURLcode) -> Code {
        switch result {
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT,
             CURLE_UNKNOWN_OPTION, CURLE_NOT_BUILT_IN:
            return .invalidRequest
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT:
            return .connectionFailed
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_CRL_BADFILE,
             CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED,
             CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_INVALIDCERTSTATUS:
            return .tls
        // A reset during the TLS handshake (load balancers do it) and a garbled reply are broken
        // connections too, and as retryable.
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_SSL_CONNECT_ERROR,
             CURLE_WEIRD_SERVER_REPLY,
             CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_BAD_CONTENT_ENCODING:
            return .connectionLost
        default:
            return .transferFailed
        }
    }
}

extension HTTPError {
    /// `scheme://host[:port]/path` of `url` without query string, fragment or credentials: what
    /// errors and logs may show.
    ///
    /// Robust against passwords that were not percent-encoded: the userinfo is everything before
    /// the *last* `@` after the scheme, and when a `/`, `?` or `#` precedes that `@` (a password
    /// holding one of them, or an `@` in the path or query) only `scheme://host[:port]` is shown.
    /// A string that does not start with `scheme://`, or whose host part is not a plain host and
    /// port, is never echoed: the answer is then a placeholder.
    public static func redactedURL(_ url: String) -> String {
        let s = Substring(url)
        guard let separator = s.range(ofSubstring: "://") else { return "(not a URL: not shown)" }
        let scheme = s[..<separator.lowerBound]
        guard let first = scheme.first, first.isASCII, first.isLetter,
              scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == ".") })
        else { return "(not a URL: not shown)" }
        let rest = s[separator.upperBound...]
        let firstDelimiter = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" }
        var authorityStart = rest.startIndex
        var showPath = true
        if let at = rest.lastIndex(of: "@") {
            authorityStart = rest.index(after: at)
            if let firstDelimiter, firstDelimiter < at { showPath = false }
        }
        let afterUserinfo = rest[authorityStart...]
        let hostEnd = afterUserinfo.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? afterUserinfo.endIndex
        let hostPort = afterUserinfo[..<hostEnd]
        guard !hostPort.isEmpty, hostPort.allSatisfy({
            $0.isASCII && ($0.isLetter || $0.isNumber || "-._:[]%".contains($0))
        }) else { return String(scheme) + "://(host not shown)" }
        var result = String(scheme) + "://" + hostPort
        if showPath {
            let path = afterUserinfo[hostEnd...]
            let pathEnd = path.firstIndex { $0 == "?" || $0 == "#" } ?? path.endIndex
            result += LogSafe.text(String(path[..<pathEnd]), limit: 200)
        }
        return result
    }
}

extension HTTPError {
    /// Whether `url` is an http(s) URL whose authority is exactly `[userinfo@]host[:port]`, with
    /// a numeric port: what a URL whose password holds an unencoded `/`, `?`, `#` or `@` is not
    /// (`http://u:pa/ss@host` has the "port" `pa`). Such a URL would be cut by libcurl at query
    /// time with a vague message; configurations check it up front, never echoing it.
    public static func isWellFormedHTTPURL(_ url: String) -> Bool {
        let s = Substring(url)
        guard let separator = s.range(ofSubstring: "://"), ["http", "https"].contains(s[..<separator.lowerBound].lowercased()) else {
            return false
        }
        let rest = s[separator.upperBound...]
        let authority = rest[..<(rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex)]
        let hostPort = authority.lastIndex(of: "@").map { authority[authority.index(after: $0)...] } ?? authority
        var host = hostPort
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { return false }
            host = hostPort[...close]
            let after = hostPort[hostPort.index(after: close)...]
            guard after.isEmpty || (after.first == ":" && isPort(after.dropFirst())) else { return false }
        } else if let colon = hostPort.firstIndex(of: ":") {
            host = hostPort[..<colon]
            guard isPort(hostPort[hostPort.index(after: colon)...]) else { return false }
        }
        return !host.isEmpty && host.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._[]:%".contains($0)) }
    }

    private static func isPort(_ text: Substring) -> Bool {
        !text.isEmpty && text.count <= 5 && text.allSatisfy { $0.isASCII && $0.isNumber } && Int(text)! <= 65_535
    }
}

extension Substring {
    func range(ofSubstring needle: String) -> Range<Index>? {
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}
