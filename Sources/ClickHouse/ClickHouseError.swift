import CurlHTTP

/// A failed ClickHouse query, with ClickHouse's own exception code and message where the server
/// gave one.
public struct ClickHouseError: Error, CustomStringConvertible, CustomDebugStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case server, authentication, midStream, transport, unexpectedResponse, decoding, configuration
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// ClickHouse rejected the query before sending a result (status >= 400 with an exception).
        public static let server = Code(.server)
        /// Wrong user or password, or the user may not connect (codes 192–194, 516).
        public static let authentication = Code(.authentication)
        /// An exception after the result had started streaming: the result is incomplete.
        public static let midStream = Code(.midStream)
        /// The HTTP exchange failed (connect, timeout, broken connection, TLS).
        public static let transport = Code(.transport)
        /// A response that is not ClickHouse's (for example a proxy's 502 page) or has the wrong format.
        public static let unexpectedResponse = Code(.unexpectedResponse)
        /// The result bytes do not fit the column types ClickHouse declared, or a type is unsupported.
        public static let decoding = Code(.decoding)
        /// The client configuration is invalid.
        public static let configuration = Code(.configuration)

        public var description: String {
            switch base {
            case .server: "server exception"
            case .authentication: "authentication failed"
            case .midStream: "exception while streaming the result"
            case .transport: "transport failure"
            case .unexpectedResponse: "unexpected response"
            case .decoding: "result decoding failed"
            case .configuration: "invalid configuration"
            }
        }
    }

    public var code: Code
    /// ClickHouse's exception code (`X-ClickHouse-Exception-Code`, `Code: N.`), when known.
    public var serverCode: Int?
    /// ClickHouse's error name (`UNKNOWN_TABLE`), when the message carried it.
    public var serverName: String?
    /// ClickHouse's message, or ours for client-side failures.
    public var message: String
    public var httpStatus: Int?
    public var queryID: String?
    /// The endpoint without query string or credentials.
    public var endpoint: String
    /// The underlying transport error, for `.transport`.
    public var transportError: HTTPError?
    public var file: String
    public var line: Int

    public init(
        code: Code, message: String, serverCode: Int? = nil, serverName: String? = nil,
        httpStatus: Int? = nil, queryID: String? = nil, endpoint: String = "",
        transportError: HTTPError? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.serverCode = serverCode
        self.serverName = serverName
        self.httpStatus = httpStatus
        self.queryID = queryID
        self.endpoint = endpoint
        self.transportError = transportError
        self.file = file
        self.line = line
    }

    /// Whether the same query may succeed later without any change (ClickHouse down, overloaded,
    /// a broken connection, a timeout). Errors in the query or its result are not transient.
    public var isTransient: Bool {
        if code == .transport { return transportError?.isTransient ?? true }
        if code == .midStream || code == .server || code == .unexpectedResponse {
            if let status = httpStatus, [502, 503, 504].contains(status) { return true }
            if let serverCode, Self.transientServerCodes.contains(serverCode) { return true }
        }
        return false
    }

    /// The most characters of a ClickHouse exception message kept (control characters escaped):
    /// enough for ClickHouse's own explanations, bounded against a hostile or broken server.
    public static let serverMessageLimit = 1000

    /// TIMEOUT_EXCEEDED, TOO_MANY_SIMULTANEOUS_QUERIES, NETWORK_ERROR, SOCKET_TIMEOUT, MEMORY_LIMIT_EXCEEDED.
    static let transientServerCodes: Set<Int> = [159, 202, 210, 209, 241]

    public var description: String {
        var text = "ClickHouse \(code)"
        if let serverCode {
            text += " (code \(serverCode)\(serverName.map { ", " + $0 } ?? ""))"
        } else if let httpStatus {
            text += " (HTTP \(httpStatus))"
        }
        text += ": \(message)"
        return text
    }

    public var debugDescription: String {
        "ClickHouseError(code: \(code), serverCode: \(serverCode.map(String.init) ?? "nil"), "
            + "name: \(serverName ?? "nil"), status: \(httpStatus.map(String.init) ?? "nil"), "
            + "queryID: \(queryID ?? "nil"), endpoint: \(endpoint), message: \(message), "
            + "transport: \(transportError.map { $0.debugDescription } ?? "nil"), at: \(file):\(line))"
    }
}

/// ClickHouse's exception text: `Code: 60. DB::Exception: Table x does not exist. (UNKNOWN_TABLE) (version 26.9.0)`
/// (and the pre-21 form `Code: 60, e.displayText() = DB::Exception: …`).
public struct ClickHouseExceptionText: Sendable, Equatable {
    public var code: Int?
    public var name: String?
    public var message: String

    /// Parses the first ClickHouse exception in `text`; `nil` when `text` holds none.
    public init?(parsing text: String) {
        guard let start = text.range(ofASCII: "Code: ") else { return nil }
        var rest = text[start.upperBound...]
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else { return nil }
        code = Int(digits)
        rest = rest.dropFirst(digits.count)
        if let marker = rest.range(ofASCII: "DB::Exception: ") {
            rest = rest[marker.upperBound...]
        } else {
            rest = rest.drop { $0 == "." || $0 == "," || $0 == " " }
        }
        var body = String(rest)
        while let last = body.last, last.isWhitespace { body.removeLast() }
        // Strip " (version …)" and then the trailing " (ERROR_NAME)".
        if let v = body.range(ofASCII: " (version ", backwards: true), body.hasSuffix(")") {
            body = String(body[..<v.lowerBound])
        }
        if body.hasSuffix(")"), let open = body.lastIndex(of: "(") {
            let candidate = body[body.index(after: open)..<body.index(before: body.endIndex)]
            if !candidate.isEmpty, candidate.allSatisfy({ $0.isUppercase || $0 == "_" || $0.isNumber }) {
                name = String(candidate)
                body = String(body[..<open])
                while let last = body.last, last.isWhitespace { body.removeLast() }
            }
        }
        if body.hasSuffix(".") { body.removeLast() }
        message = body
    }
}

extension StringProtocol {
    /// Substring search without Foundation.
    func range(ofASCII needle: String, backwards: Bool = false) -> Range<Index>? {
        let n = Array(needle.utf8)
        guard !n.isEmpty else { return nil }
        var candidates: [Index] = []
        var i = startIndex
        while i < endIndex {
            if self[i...].utf8.starts(with: n) {
                if !backwards { return i..<self.utf8.index(i, offsetBy: n.count) }
                candidates.append(i)
            }
            i = index(after: i)
        }
        guard let last = candidates.last else { return nil }
        return last..<self.utf8.index(last, offsetBy: n.count)
    }
}
