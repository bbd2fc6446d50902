/// One HTTP request as the bridge sends it: ClickHouse queries and OTLP exports are both POSTs.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable {
        case get = "GET"
        case post = "POST"
    }

    public var method: Method
    public var url: String
    /// Header fields in order. Values may be secrets: never log them.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// Limit for the whole transfer, connect included. `nil` waits as long as the server sends.
    public var timeout: Duration?
    /// Abandon a transfer that receives nothing for this long. A transfer paused by its reader
    /// does not count as stalled (libcurl skips speed checks while paused).
    public var stallTimeout: Duration?
    /// The response encodings to accept, as libcurl's `CURLOPT_ACCEPT_ENCODING` takes them: empty
    /// offers every encoding libcurl decodes (deflate, gzip, br, zstd), a list offers those. The
    /// body is always handed on decoded.
    public var acceptEncoding: String

    public init(
        method: Method = .post,
        url: String,
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = [],
        timeout: Duration? = nil,
        stallTimeout: Duration? = nil,
        acceptEncoding: String = ""
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.stallTimeout = stallTimeout
        self.acceptEncoding = acceptEncoding
    }
}

/// Status line and header fields of a response.
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    public var headers: [HeaderField]

    public struct HeaderField: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(status: Int, headers: [HeaderField]) {
        self.status = status
        self.headers = headers
    }

    /// The value of the first field named `name` (case-insensitive), if any.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

/// A complete response: head and the whole (decompressed) body.
public struct HTTPResponse: Sendable {
    public var head: HTTPResponseHead
    public var body: [UInt8]

    public init(head: HTTPResponseHead, body: [UInt8]) {
        self.head = head
        self.body = body
    }

    public var status: Int { head.status }
    public func header(_ name: String) -> String? { head.header(name) }
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
