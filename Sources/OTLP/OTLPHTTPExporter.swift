import CurlHTTP
import Foundation
import Logging
import SwiftProtobuf

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
public final class OTLPHTTPExporter {
    /// The result of one attempt, before the retry policy decides.
    public enum AttemptOutcome: Sendable, Equatable {
        case acknowledged(ExportAcknowledgement)
        case retryable(status: Int?, message: String, retryAfter: Duration?)
        case failed(status: Int, message: String)
        /// A transport failure that sending again will not cure (bad URL, TLS verification).
        case transportFailed(message: String)
    }

    public let configuration: OTLPExporterConfiguration
    public let signal: OTLPExporterConfiguration.Signal
    public var retryPolicy: RetryPolicy
    private let http: HTTPClient
    private let logger: Logger
    private let sleep: (Duration) -> Void
    private let random: () -> Double

    public init(
        configuration: OTLPExporterConfiguration, signal: OTLPExporterConfiguration.Signal,
        retryPolicy: RetryPolicy = RetryPolicy(), logger: Logger = Logger(label: "otel-bridge.otlp"),
        sleep: @escaping (Duration) -> Void = { Thread.sleep(forTimeInterval: Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) },
        random: @escaping () -> Double = { Double.random(in: 0..<1) }
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
    public func export(body: [UInt8]) throws(OTLPExportError) -> ExportAcknowledgement {
        let payload = configuration.compression == .gzip ? Gzip.compress(body) : body
        let started = ContinuousClock.now
        var attempt = 0
        while true {
            attempt += 1
            switch send(payload) {
            case .acknowledged(var ack):
                ack.attempts = attempt
                if ack.rejected > 0 || ack.message != nil {
                    logger.warning("OTLP receiver accepted the export partially", metadata: [
                        "endpoint": "\(redactedEndpoint)", "rejected": "\(ack.rejected)", "message": "\(ack.message ?? "")",
                    ])
                }
                return ack
            case .failed(let status, let message):
                throw OTLPExportError(code: .rejected, endpoint: redactedEndpoint, httpStatus: status, message: message, attempts: attempt)
            case .transportFailed(let message):
                throw OTLPExportError(code: .transport, endpoint: redactedEndpoint, message: message, attempts: attempt)
            case .retryable(let status, let message, let retryAfter):
                let elapsed = ContinuousClock.now - started
                guard let wait = retryPolicy.delay(afterAttempt: attempt, elapsed: elapsed, retryAfter: retryAfter, random: random()) else {
                    throw OTLPExportError(code: .retriesExhausted, endpoint: redactedEndpoint, httpStatus: status, message: message, attempts: attempt)
                }
                logger.info("OTLP export will be retried", metadata: [
                    "endpoint": "\(redactedEndpoint)", "attempt": "\(attempt)",
                    "status": "\(status.map(String.init) ?? "none")", "reason": "\(message)", "wait_ms": "\(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)",
                ])
                sleep(wait)
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
                return .retryable(status: nil, message: "\(error.code): \(error.message)", retryAfter: nil)
            }
            return .transportFailed(message: "\(error.code): \(error.message)")
        }
        return Self.interpret(response, signal: signal, now: Int64(Date().timeIntervalSince1970))
    }

    /// Reads a receiver's answer per the OTLP/HTTP specification.
    public static func interpret(_ response: HTTPResponse, signal: OTLPExporterConfiguration.Signal, now: Int64) -> AttemptOutcome {
        let status = response.status
        let isJSON = response.header("Content-Type")?.lowercased().hasPrefix("application/json") ?? false
        if (200..<300).contains(status) {
            return .acknowledged(partialSuccess(response.body, signal: signal, json: isJSON))
        }
        let message = statusMessage(response.body, json: isJSON) ?? "HTTP \(status)"
        if RetryPolicy.retryableStatuses.contains(status) {
            let retryAfter = response.header("Retry-After").flatMap { RetryAfter.parse($0, now: now) }
            return .retryable(status: status, message: message, retryAfter: retryAfter)
        }
        return .failed(status: status, message: message)
    }

    static func partialSuccess(_ body: [UInt8], signal: OTLPExporterConfiguration.Signal, json: Bool) -> ExportAcknowledgement {
        guard !body.isEmpty else { return ExportAcknowledgement() }
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        do {
            switch signal {
            case .metrics:
                let r = json
                    ? try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceResponse(jsonUTF8Bytes: body, options: options)
                    : try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceResponse(serializedBytes: body)
                guard r.hasPartialSuccess else { return ExportAcknowledgement() }
                let message = r.partialSuccess.errorMessage
                return ExportAcknowledgement(rejected: r.partialSuccess.rejectedDataPoints, message: message.isEmpty ? nil : message)
            case .traces:
                let r = json
                    ? try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse(jsonUTF8Bytes: body, options: options)
                    : try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse(serializedBytes: body)
                guard r.hasPartialSuccess else { return ExportAcknowledgement() }
                let message = r.partialSuccess.errorMessage
                return ExportAcknowledgement(rejected: r.partialSuccess.rejectedSpans, message: message.isEmpty ? nil : message)
            }
        } catch {
            // A 2xx is an acknowledgement even if its body is not a response message.
            return ExportAcknowledgement(message: "unreadable response body (\(body.count) bytes)")
        }
    }

    /// The `message` of a `google.rpc.Status` body, or the body as text if it is not one.
    static func statusMessage(_ body: [UInt8], json: Bool) -> String? {
        guard !body.isEmpty else { return nil }
        if json {
            if let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
               let message = object["message"] as? String {
                return message
            }
        } else if let message = RPCStatus.message(fromProtobuf: body) {
            return message
        }
        let text = String(decoding: body.prefix(500), as: UTF8.self)
        return text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0.isPunctuation || $0.isWhitespace || $0.isSymbol) }) ? text : nil
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
                guard let length = varint(), i + Int(length) <= bytes.count else { return nil }
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
