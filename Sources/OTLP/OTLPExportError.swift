import CurlHTTP

/// An export the receiver did not acknowledge.
public struct OTLPExportError: Error, CustomStringConvertible, CustomDebugStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case rejected, retriesExhausted, transport, invalidResponse }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The receiver refused the request with a non-retryable status (400, 401, 403, 404, 413, …).
        public static let rejected = Code(.rejected)
        /// Retryable failures (429, 502–504, connection errors) went on past the retry budget.
        public static let retriesExhausted = Code(.retriesExhausted)
        /// A transport failure that retrying cannot cure (bad URL, certificate verification).
        public static let transport = Code(.transport)
        /// A 2xx that is not an OTLP response (a login page, a proxy's answer: another Content-Type,
        /// or a body that is not an `Export…ServiceResponse`), or a redirect: not an acknowledgement.
        public static let invalidResponse = Code(.invalidResponse)

        public var description: String {
            switch base {
            case .rejected: "rejected by the receiver"
            case .retriesExhausted: "retries exhausted"
            case .transport: "transport failure"
            case .invalidResponse: "answered with something that is not an OTLP response"
            }
        }
    }

    public var code: Code
    /// The endpoint URL without query string or credentials.
    public var endpoint: String
    /// The last HTTP status, if a response arrived.
    public var httpStatus: Int?
    /// The receiver's message (google.rpc.Status) or the transport's.
    public var message: String
    /// Attempts made, the first included.
    public var attempts: Int
    public var file: String
    public var line: Int

    public init(code: Code, endpoint: String, httpStatus: Int? = nil, message: String, attempts: Int = 1,
                file: String = #fileID, line: Int = #line) {
        self.code = code
        self.endpoint = endpoint
        self.httpStatus = httpStatus
        self.message = message
        self.attempts = attempts
        self.file = file
        self.line = line
    }

    public var description: String {
        var text = "OTLP export to \(endpoint) \(code)"
        if let httpStatus { text += " (HTTP \(httpStatus))" }
        if attempts > 1 { text += " after \(attempts) attempts" }
        return text + ": " + message
    }

    public var debugDescription: String {
        "OTLPExportError(code: \(code), endpoint: \(endpoint), status: \(httpStatus.map(String.init) ?? "nil"), attempts: \(attempts), message: \(message), at: \(file):\(line))"
    }
}
