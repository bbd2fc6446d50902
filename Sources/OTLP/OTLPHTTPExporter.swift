import CurlHTTP
import Foundation
import Synchronization
import Logging
import SwiftProtobuf
import UTCTime

/// What the receiver said about an acknowledged export.
public struct ExportAcknowledgement: Sendable, Equatable {
    /// Points (or spans) the receiver accepted the request with but rejected (`partial_success`).
    public var rejected: Int64
    /// The receiver's `partial_success.error_message`, if any.
    public var message: String?
    /// Attempts it took, the first included.
    public var attempts: Int

    public init(rejected: Int64 = 0, message: String? = nil, attempts: Int = 1) {
        self.rejected = rejected
        self.message = message
        self.attempts = attempts
    }
}

/// Sends encoded OTLP requests over HTTP, with the retries of the OTLP/HTTP specification.
///
/// Blocking (it sleeps between attempts): call it from the pass's own thread. Not `Sendable`: one
/// pass owns one exporter, which keeps its connection alive between requests.
public final class OTLPHTTPExporter: Sendable {
    /// The result of one attempt, before the retry policy decides.
    public enum AttemptOutcome: Sendable, Equatable {
        case acknowledged(ExportAcknowledgement)
        case retryable(status: Int?, message: String, retryAfter: Duration?)
        case failed(status: Int, message: String)
        /// A transport failure that sending again will not cure (bad URL, TLS verification).
        case transportFailed(message: String)
        /// An answer that is not the receiver's OTLP response (a 2xx of another Content-Type or
        /// with an undecodable body, a redirect): never an acknowledgement, never retried.
        case invalidResponse(status: Int, message: String)
    }

    public let configuration: OTLPExporterConfiguration
    public let signal: OTLPExporterConfiguration.Signal
    public let retryPolicy: RetryPolicy
    private let http: HTTPClient
    private let logger: Logger
    private let sleep: @Sendable (Duration) -> Void
    private let random: @Sendable () -> Double
    private let health = EndpointHealthBox()

    /// Whether an earlier export through this exporter spent its whole retry budget on retryable
    /// failures and no export has been acknowledged since: exports then make a single attempt.
    public var isEndpointUnavailable: Bool { !health.state.allowsRetries }

    public init(
        configuration: OTLPExporterConfiguration, signal: OTLPExporterConfiguration.Signal,
        retryPolicy: RetryPolicy = RetryPolicy(), logger: Logger = Logger(label: "otel-bridge.otlp"),
        sleep: @escaping @Sendable (Duration) -> Void = { Thread.sleep(forTimeInterval: $0.inSeconds) },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.configuration = configuration
        self.signal = signal
        self.retryPolicy = retryPolicy
        self.logger = logger
        self.sleep = sleep
        self.random = random
        self.http = HTTPClient(configuration: .init(connectTimeout: min(configuration.timeout, .seconds(10)), tls: configuration.tls, userAgent: "otel-bridge"))
    }

    /// Sends `body` (already in the configured wire protocol) until it is acknowledged, a
    /// non-retryable answer arrives, or the retry budget is spent.
    ///
    /// The exporter remembers when its endpoint exhausted a retry budget on retryable failures
    /// (``EndpointHealth``): until an export is acknowledged again, later exports make a single
    /// attempt without backoff, so a receiver that is down holds up a pass of several pipelines
    /// for one budget, not one budget per pipeline.
    ///
    /// - Parameter willRetry: called before each wait for a retry (a checkpoint commit begun for
    ///   this export is rolled back there rather than held open through the backoff).
    public func export(body: [UInt8], willRetry: () -> Void = {}) throws(OTLPExportError) -> ExportAcknowledgement {
        let payload = configuration.compression == .gzip ? Gzip.compress(body) : body
        let started = ContinuousClock.now
        let retries = health.state.allowsRetries
        var attempt = 0
        while true {
            attempt += 1
            switch send(payload) {
            case .acknowledged(var ack):
                ack.attempts = attempt
                health.update { $0.record(.acknowledged) }
                if ack.rejected > 0 || ack.message != nil {
                    logger.warning("OTLP receiver accepted the export partially", metadata: [
                        "endpoint": "\(redactedEndpoint)", "rejected": "\(ack.rejected)", "message": "\(ack.message ?? "")",
                    ])
                }
                return ack
            case .failed(let status, let message):
                throw OTLPExportError(code: .rejected, endpoint: redactedEndpoint, httpStatus: status, message: message, attempts: attempt)
            case .invalidResponse(let status, let message):
                throw OTLPExportError(code: .invalidResponse, endpoint: redactedEndpoint, httpStatus: status, message: message, attempts: attempt)
            case .transportFailed(let message):
                throw OTLPExportError(code: .transport, endpoint: redactedEndpoint, message: message, attempts: attempt)
            case .retryable(let status, let message, let retryAfter):
                guard retries else {
                    throw OTLPExportError(
                        code: .retriesExhausted, endpoint: redactedEndpoint, httpStatus: status,
                        message: message + "; an earlier export already spent its whole retry budget on this endpoint, so this one made a single attempt (retries resume after an acknowledged export)",
                        attempts: attempt)
                }
                let elapsed = ContinuousClock.now - started
                switch retryPolicy.decide(afterAttempt: attempt, elapsed: elapsed, retryAfter: retryAfter, random: random()) {
                case .giveUp(let reason):
                    health.update { $0.record(.retryBudgetExhausted) }
                    logger.warning("OTLP endpoint unavailable: later exports through it make a single attempt until one is acknowledged", metadata: [
                        "endpoint": "\(redactedEndpoint)", "attempts": "\(attempt)",
                    ])
                    throw OTLPExportError(code: .retriesExhausted, endpoint: redactedEndpoint, httpStatus: status,
                                          message: message + "; " + reason, attempts: attempt)
                case .retry(let wait):
                    logger.info("OTLP export will be retried", metadata: [
                        "endpoint": "\(redactedEndpoint)", "attempt": "\(attempt)",
                        "status": "\(status.map(String.init) ?? "none")", "reason": "\(message)",
                        "wait_ms": "\(wait.wholeMilliseconds(roundingUp: false, clampedTo: 0...Int64.max))",
                    ])
                    willRetry()
                    sleep(wait)
                }
            }
        }
    }

    /// One attempt: the HTTP exchange and the reading of its answer.
    public func send(_ payload: [UInt8]) -> AttemptOutcome {
        var headers: [(name: String, value: String)] = [
            ("Content-Type", configuration.wireProtocol == .httpJSON ? "application/json" : "application/x-protobuf"),
        ]
        if configuration.compression == .gzip { headers.append(("Content-Encoding", "gzip")) }
        headers += configuration.headers
        let request = HTTPRequest(method: .post, url: configuration.endpoint, headers: headers, body: payload, timeout: configuration.timeout)
        let response: HTTPResponse
        do {
            response = try http.perform(request, maxBodyBytes: 4 * 1024 * 1024)
        } catch {
            if error.isTransient {
                return .retryable(status: nil, message: "\(error.code): \(LogSafe.text(error.message))", retryAfter: nil)
            }
            return .transportFailed(message: "\(error.code): \(LogSafe.text(error.message))")
        }
        return Self.interpret(response, signal: signal, now: UTCInstant.now.secondsAndNanoseconds.seconds, wireProtocol: configuration.wireProtocol)
    }

    /// Reads a receiver's answer per the OTLP/HTTP specification.
    ///
    /// A 2xx is an acknowledgement only when it is an OTLP response: its Content-Type, when
    /// present, must be `application/x-protobuf` (or `application/protobuf`) or `application/json`,
    /// and its body must decode as the signal's `Export…ServiceResponse` (in the response's
    /// encoding, or the request's `wireProtocol` when the response names none). An empty body is
    /// the empty message (full success). Anything else — a login page's 200 `text/html`, a body
    /// that does not decode — is `.invalidResponse`, as is a redirect (never followed). The
    /// message names status and Content-Type, never the body.
    public static func interpret(
        _ response: HTTPResponse, signal: OTLPExporterConfiguration.Signal, now: Int64,
        wireProtocol: OTLPExporterConfiguration.WireProtocol = .httpProtobuf
    ) -> AttemptOutcome {
        let status = response.status
        let contentType = response.header("Content-Type")
        let mediaType = contentType.map { String($0.split(separator: ";", maxSplits: 1).first ?? "").trimmedSpaces.lowercased() }
        let isJSON = mediaType == "application/json"
        let shownType = contentType.map { " with Content-Type \(LogSafe.text($0, limit: 80))" } ?? " without a Content-Type"
        if (200..<300).contains(status) {
            let json: Bool
            switch mediaType {
            case nil: json = wireProtocol == .httpJSON
            case "application/json": json = true
            case "application/x-protobuf", "application/protobuf": json = false
            default:
                return .invalidResponse(status: status, message: "HTTP \(status)\(shownType) is not an OTLP response (application/x-protobuf or application/json): is the endpoint an OTLP/HTTP receiver, not a proxy or login page?")
            }
            guard let ack = partialSuccess(response.body, signal: signal, json: json) else {
                return .invalidResponse(status: status, message: "HTTP \(status)\(shownType): the body (\(response.body.count) bytes) is not an Export\(signal == .metrics ? "Metrics" : "Trace")ServiceResponse")
            }
            return .acknowledged(ack)
        }
        if (300..<400).contains(status) {
            return .invalidResponse(status: status, message: "a redirect (HTTP \(status)), which otel-bridge does not follow: set the endpoint to the OTLP receiver itself")
        }
        let message = statusMessage(response.body, json: isJSON) ?? "HTTP \(status)"
        if RetryPolicy.retryableStatuses.contains(status) {
            let retryAfter = response.header("Retry-After").flatMap { RetryAfter.parse($0, now: now) }
            return .retryable(status: status, message: message, retryAfter: retryAfter)
        }
        return .failed(status: status, message: message)
    }

    /// The acknowledgement in a 2xx body, or `nil` when the body is not the response message.
    static func partialSuccess(_ body: [UInt8], signal: OTLPExporterConfiguration.Signal, json: Bool) -> ExportAcknowledgement? {
        guard !body.isEmpty else { return ExportAcknowledgement() }
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        func ack(_ rejected: Int64, _ message: String) -> ExportAcknowledgement {
            ExportAcknowledgement(rejected: rejected, message: message.isEmpty ? nil : LogSafe.text(message))
        }
        do {
            switch signal {
            case .metrics:
                let r = json
                    ? try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceResponse(jsonUTF8Bytes: body, options: options)
                    : try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceResponse(serializedBytes: body)
                guard r.hasPartialSuccess else { return ExportAcknowledgement() }
                return ack(r.partialSuccess.rejectedDataPoints, r.partialSuccess.errorMessage)
            case .traces:
                let r = json
                    ? try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse(jsonUTF8Bytes: body, options: options)
                    : try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse(serializedBytes: body)
                guard r.hasPartialSuccess else { return ExportAcknowledgement() }
                return ack(r.partialSuccess.rejectedSpans, r.partialSuccess.errorMessage)
            }
        } catch {
            return nil
        }
    }

    /// The `message` of a `google.rpc.Status` body, or the body as text if it is not one.
    static func statusMessage(_ body: [UInt8], json: Bool) -> String? {
        guard !body.isEmpty else { return nil }
        // The receiver's text: bounded, control characters escaped (it may be logged and stored).
        if json {
            if let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
               let message = object["message"] as? String {
                return LogSafe.text(message)
            }
        } else if let message = RPCStatus.message(fromProtobuf: body) {
            return LogSafe.text(message)
        }
        let text = String(decoding: body.prefix(4 * LogSafe.defaultLimit), as: UTF8.self)
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0.isPunctuation || $0.isWhitespace || $0.isSymbol) }) else { return nil }
        return LogSafe.text(text)
    }

    private var redactedEndpoint: String { HTTPError.redactedURL(configuration.endpoint) }
}

/// Reads field 2 (`message`) of a protobuf-encoded `google.rpc.Status`.
enum RPCStatus {
    static func message(fromProtobuf bytes: [UInt8]) -> String? {
        var i = 0
        func varint() -> UInt64? {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while i < bytes.count, shift < 64 {
                let b = bytes[i]; i += 1
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
            }
            return nil
        }
        var message: String?
        while i < bytes.count {
            guard let key = varint() else { return nil }
            let field = key >> 3, wire = key & 7
            switch wire {
            case 0: guard varint() != nil else { return nil }
            case 1: i += 8
            case 5: i += 4
            case 2:
                // Compared as UInt64 first: a length near 2^64 must not trap the Int conversion.
                guard let length = varint(), length <= UInt64(bytes.count - i) else { return nil }
                if field == 2 {
                    guard let text = String(validating: bytes[i..<i + Int(length)], as: UTF8.self) else { return nil }
                    message = text
                }
                i += Int(length)
            default: return nil
            }
            if i > bytes.count { return nil }
        }
        return message
    }
}

/// What an exporter remembers about its endpoint between exports: a plain value, so the policy
/// is tested without a network.
public struct EndpointHealth: Sendable, Equatable {
    public enum Event: Sendable, Equatable {
        /// An export was acknowledged (fully or partially).
        case acknowledged
        /// An export gave up on retryable failures: its retry budget is spent.
        case retryBudgetExhausted
    }

    /// `false` after a spent retry budget until the next acknowledgement: exports then make a
    /// single attempt and wait for nothing.
    public private(set) var allowsRetries = true

    public init() {}

    public mutating func record(_ event: Event) {
        switch event {
        case .acknowledged: allowsRetries = true
        case .retryBudgetExhausted: allowsRetries = false
        }
    }
}

/// `EndpointHealth` behind a lock: the run shares one exporter across its pipelines.
final class EndpointHealthBox: Sendable {
    private let value = Mutex(EndpointHealth())

    var state: EndpointHealth { value.withLock { $0 } }

    func update(_ body: (inout EndpointHealth) -> Void) {
        value.withLock { body(&$0) }
    }
}
