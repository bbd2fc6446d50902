import CurlHTTP
import Environment
import Foundation
import SwiftProtobuf
import Testing
@testable import OTLP

/// Files that exist for the duration of a test (certificate paths are checked when read).
struct TemporaryFiles {
    let directory: String

    init(_ names: [String]) throws {
        directory = NSTemporaryDirectory() + "otlp-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in names {
            _ = FileManager.default.createFile(atPath: directory + "/" + name, contents: Data("-----BEGIN CERTIFICATE-----\n".utf8))
        }
    }

    func path(_ name: String) -> String { directory + "/" + name }
}

@Suite("Numbers from the environment and from receivers never trap")
struct NumberHardeningTests {
    @Test("OTEL_EXPORTER_OTLP_TIMEOUT outside 1 ms … 1 h, or not whole milliseconds, is an error naming the variable", arguments: [
        "1e20", "0.1", "0", "-5", "NaN", "inf", "99999999999999999999", "3600001", "10 s", "+5", "",
    ])
    func badTimeout(text: String) {
        for variable in ["OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT"] where !text.isEmpty {
            #expect {
                try OTLPExporterConfiguration(signal: .metrics, environment: [variable: text])
            } throws: { error in
                (error as? EnvironmentError)?.variable == variable
            }
        }
    }

    @Test("the bounds themselves are accepted")
    func timeoutBounds() throws {
        #expect(try OTLPExporterConfiguration(signal: .metrics, environment: ["OTEL_EXPORTER_OTLP_TIMEOUT": "1"]).timeout == .milliseconds(1))
        #expect(try OTLPExporterConfiguration(signal: .metrics, environment: ["OTEL_EXPORTER_OTLP_TIMEOUT": "3600000"]).timeout == .seconds(3600))
    }

    @Test("a Retry-After of any size is capped, never an overflow")
    func hugeRetryAfter() {
        #expect(RetryAfter.parse("99999999999999999", now: 0) == RetryAfter.maximum)
        #expect(RetryAfter.parse("9223372036854775807", now: 0) == RetryAfter.maximum)
        #expect(RetryAfter.parse(String(repeating: "9", count: 400), now: 0) == RetryAfter.maximum)
        #expect(RetryAfter.parse("000000000000000000000007", now: 0) == .seconds(7))
        #expect(RetryAfter.parse("-1", now: 0) == nil)
        #expect(RetryAfter.parse("1.5", now: 0) == nil)
    }

    @Test("HTTP-dates far in the future are capped, far in the past mean now, absurd ones are ignored")
    func httpDates() {
        let now: Int64 = 1_772_600_760
        #expect(RetryAfter.parse("Fri, 31 Dec 9999 23:59:59 GMT", now: now) == RetryAfter.maximum)
        #expect(RetryAfter.parse("Mon, 01 Jan 0001 00:00:00 GMT", now: now) == .zero)
        #expect(RetryAfter.parse("Fri, 31 Dec 9999 23:59:59 GMT", now: Int64.min) == RetryAfter.maximum)
        #expect(RetryAfter.parse("Mon, 01 Jan 0001 00:00:00 GMT", now: Int64.max) == .zero)
        #expect(RetryAfter.parse("Sun, 06 Nov 99999999999999 08:49:37 GMT", now: now) == nil)
        #expect(RetryAfter.parse("Sun, 99999999999999999999 Nov 1994 08:49:37 GMT", now: now) == nil)
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 99999999999:49:37 GMT", now: now) == nil)
    }

    @Test("a Retry-After past the budget gives up at once, saying why")
    func retryAfterPastBudget() {
        let policy = RetryPolicy(maxElapsed: .seconds(300))
        let decision = policy.decide(afterAttempt: 1, elapsed: .seconds(10), retryAfter: RetryAfter.maximum, random: 0.5)
        guard case .giveUp(let reason) = decision else {
            Issue.record("expected to give up, got \(decision)")
            return
        }
        #expect(reason.contains("asked to retry after 31536000 s"))
        #expect(reason.contains("290 s left of the 300 s retry budget"))
        #expect(policy.delay(afterAttempt: 1, elapsed: .zero, retryAfter: .seconds(299), random: 0) == .seconds(299))
    }

    @Test("a 503 whose Retry-After is 99999999999999999 gives up instead of trapping")
    func interpretHugeRetryAfter() {
        let response = HTTPResponse(head: HTTPResponseHead(status: 503, headers: [.init(name: "Retry-After", value: "99999999999999999")]), body: [])
        let outcome = OTLPHTTPExporter.interpret(response, signal: .metrics, now: 0)
        #expect(outcome == .retryable(status: 503, message: "HTTP 503", retryAfter: RetryAfter.maximum))
        #expect(RetryPolicy().delay(afterAttempt: 1, elapsed: .zero, retryAfter: RetryAfter.maximum, random: 0) == nil)
    }

    @Test("absurd policy settings and attempt counts decide without trapping")
    func absurdPolicy() {
        let policy = RetryPolicy(initialBackoff: .seconds(Int64.max / 2), maxBackoff: .seconds(Int64.max / 2),
                                 multiplier: .infinity, maxElapsed: .seconds(Int64.max / 2))
        _ = policy.decide(afterAttempt: Int.max, elapsed: .zero, retryAfter: RetryAfter.maximum, random: 1)
        _ = policy.decide(afterAttempt: Int.max, elapsed: .seconds(Int64.max / 2), retryAfter: nil, random: 1)
        #expect(RetryPolicy(multiplier: .nan).delay(afterAttempt: 5, elapsed: .zero, retryAfter: nil, random: .nan) == .zero)
        #expect(RetryPolicy(maxElapsed: .zero).delay(afterAttempt: 1, elapsed: .zero, retryAfter: nil, random: 0) == nil)
    }

    @Test("a google.rpc.Status with a length near 2^64 is not a message, not a trap")
    func hugeProtobufLength() {
        let bytes: [UInt8] = [0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x41]
        #expect(RPCStatus.message(fromProtobuf: bytes) == nil)
    }
}

@Suite("A 2xx that is not OTLP is not an acknowledgement")
struct NotOTLPTests {
    func response(_ status: Int, _ contentType: String?, _ body: String) -> HTTPResponse {
        HTTPResponse(head: HTTPResponseHead(status: status, headers: contentType.map { [.init(name: "Content-Type", value: $0)] } ?? []),
                     body: Array(body.utf8))
    }

    func isInvalid(_ outcome: OTLPHTTPExporter.AttemptOutcome) -> Bool {
        if case .invalidResponse = outcome { return true }
        return false
    }

    @Test("a login page's 200 text/html fails, naming status and content type but not the body")
    func html() {
        let outcome = OTLPHTTPExporter.interpret(response(200, "text/html; charset=utf-8", "<html>token=SECRET-IN-BODY</html>"), signal: .metrics, now: 0)
        guard case .invalidResponse(let status, let message) = outcome else {
            Issue.record("expected invalidResponse, got \(outcome)")
            return
        }
        #expect(status == 200)
        #expect(message.contains("text/html"))
        #expect(!message.contains("SECRET-IN-BODY"))
    }

    @Test("other content types fail even with an empty body", arguments: ["text/plain", "text/html", "application/octet-stream", "application/xml"])
    func otherTypes(type: String) {
        #expect(isInvalid(OTLPHTTPExporter.interpret(response(200, type, ""), signal: .metrics, now: 0)))
    }

    @Test("a body that does not decode as the response message fails", arguments: [
        ("application/x-protobuf", "<html>nope</html>"), ("application/json", "<html>nope</html>"), (nil, "<html>nope</html>"),
    ] as [(String?, String)])
    func undecodable(type: String?, body: String) {
        #expect(isInvalid(OTLPHTTPExporter.interpret(response(200, type, body), signal: .metrics, now: 0)))
        #expect(isInvalid(OTLPHTTPExporter.interpret(response(200, type, body), signal: .traces, now: 0)))
    }

    @Test("OTLP answers are acknowledgements: empty protobuf, {} in JSON, no Content-Type in the request's encoding")
    func valid() {
        #expect(OTLPHTTPExporter.interpret(response(200, "application/x-protobuf", ""), signal: .metrics, now: 0) == .acknowledged(ExportAcknowledgement()))
        #expect(OTLPHTTPExporter.interpret(response(200, "application/json", "{}"), signal: .metrics, now: 0) == .acknowledged(ExportAcknowledgement()))
        #expect(OTLPHTTPExporter.interpret(response(200, "application/json; charset=utf-8", "{}"), signal: .traces, now: 0) == .acknowledged(ExportAcknowledgement()))
        #expect(OTLPHTTPExporter.interpret(response(200, nil, "{}"), signal: .metrics, now: 0, wireProtocol: .httpJSON) == .acknowledged(ExportAcknowledgement()))
        #expect(OTLPHTTPExporter.interpret(response(202, nil, ""), signal: .metrics, now: 0) == .acknowledged(ExportAcknowledgement()))
    }

    @Test("a redirect is not followed and not an acknowledgement", arguments: [301, 302, 303, 307, 308])
    func redirect(status: Int) {
        #expect(isInvalid(OTLPHTTPExporter.interpret(response(status, "text/html", "<a href=login>"), signal: .metrics, now: 0)))
    }
}

@Suite("OTLP headers from the environment are validated")
struct HeaderValidationTests {
    static let secret = "Sup3rS3cretV4lue"

    @Test("CR, LF, NUL and other control characters in a decoded value are rejected, naming the entry but not the value", arguments: [
        "%0D%0AX-Injected: 1", "%0A", "%00tail", "a%07b", "%7F", "%1B[31m",
    ])
    func controlCharacters(suffix: String) {
        for variable in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_METRICS_HEADERS"] {
            #expect {
                try OTLPExporterConfiguration(signal: .metrics, environment: [variable: "a=1,api-key=\(Self.secret)\(suffix)"])
            } throws: { error in
                guard let e = error as? EnvironmentError else { return false }
                return e.variable == variable && e.reason.contains("entry 2") && !e.description.contains(Self.secret)
            }
        }
    }

    @Test("the GenAI traces prefix is validated the same way")
    func prefixed() {
        #expect {
            try OTLPExporterConfiguration(signal: .traces, environment: [
                "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS": "x-key=\(Self.secret)%0D%0AHost: evil",
            ], prefix: "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP")
        } throws: { error in
            guard let e = error as? EnvironmentError else { return false }
            return e.variable == "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS" && e.reason.contains("entry 1") && !e.description.contains(Self.secret)
        }
    }

    @Test("names that are not tokens, and headers the exporter sets itself, are rejected", arguments: [
        "bad name=\(secret)", "x%0Ay=\(secret)", "x:y=\(secret)", "Content-Type=text/plain", "content-length=5",
        "Content-Encoding=br", "Host=evil", "Transfer-Encoding=chunked", "Connection=close",
    ])
    func names(entry: String) {
        #expect {
            try OTLPExporterConfiguration(signal: .metrics, environment: ["OTEL_EXPORTER_OTLP_HEADERS": "ok=1,\(entry)"])
        } throws: { error in
            guard let e = error as? EnvironmentError else { return false }
            return e.variable == "OTEL_EXPORTER_OTLP_HEADERS" && e.reason.contains("entry 2") && !e.description.contains(Self.secret)
        }
    }

    @Test("a valid list still parses, and tabs inside a value are allowed")
    func valid() throws {
        let c = try OTLPExporterConfiguration(signal: .metrics, environment: ["OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20abc,x-tenant=a%09b"])
        #expect(c.headers.map(\.name) == ["Authorization", "x-tenant"])
        #expect(c.headers.map(\.value) == ["Bearer abc", "a\tb"])
    }
}

@Suite("Certificate paths are checked when the configuration is read")
struct CertificatePathTests {
    @Test("a missing or unreadable file names its variable", arguments: [
        "OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    ])
    func missing(variable: String) throws {
        let files = try TemporaryFiles(["c.pem", "k.pem"])
        var environment = ["OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": files.path("c.pem"), "OTEL_EXPORTER_OTLP_CLIENT_KEY": files.path("k.pem")]
        for bad in [files.path("missing.pem"), files.directory] {
            environment[variable] = bad
            #expect {
                try OTLPExporterConfiguration(signal: .metrics, environment: EnvironmentValues(environment))
            } throws: { error in
                (error as? EnvironmentError)?.variable == variable
            }
        }
    }
}

@Suite("Receiver text is bounded and escaped; URLs are redacted")
struct ReceiverTextTests {
    @Test("a receiver's error body cannot forge log lines or carry NULs, and is bounded")
    func forgedLines() {
        let body = "bad request\n2026-01-01 INFO forged line\r\u{1B}[2J\u{0}" + String(repeating: "x", count: 5000)
        let outcome = OTLPHTTPExporter.interpret(
            HTTPResponse(head: HTTPResponseHead(status: 400, headers: [.init(name: "Content-Type", value: "application/json")]),
                         body: Array(try! JSONSerialization.data(withJSONObject: ["code": 3, "message": body]))),
            signal: .metrics, now: 0)
        guard case .failed(_, let message) = outcome else {
            Issue.record("expected failed, got \(outcome)")
            return
        }
        #expect(!message.contains("\n") && !message.contains("\r") && !message.contains("\u{1B}") && !message.contains("\u{0}"))
        #expect(message.hasPrefix("bad request\\n2026-01-01 INFO forged line\\r\\u{1B}[2J\\u{0}"))
        #expect(message.count <= LogSafe.defaultLimit + 40)
    }

    @Test("a partial-success message is escaped and bounded too")
    func partialMessage() throws {
        var r = Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceResponse()
        r.partialSuccess.rejectedDataPoints = 1
        r.partialSuccess.errorMessage = "line\nforged" + String(repeating: "y", count: 1000)
        let outcome = OTLPHTTPExporter.interpret(
            HTTPResponse(head: HTTPResponseHead(status: 200, headers: [.init(name: "Content-Type", value: "application/x-protobuf")]), body: try r.serializedBytes()),
            signal: .metrics, now: 0)
        guard case .acknowledged(let ack) = outcome, let message = ack.message else {
            Issue.record("expected an acknowledgement with a message, got \(outcome)")
            return
        }
        #expect(message.hasPrefix("line\\nforged"))
        #expect(message.count <= LogSafe.defaultLimit + 1)
    }

    @Test("URLs with credentials are redacted whatever their password holds", arguments: [
        ("http://user:S3cret@collector:4318/v1/metrics?token=S3cret", "http://collector:4318/v1/metrics"),
        ("http://user:S3/cret@collector:4318/v1/metrics", "http://collector:4318"),
        ("http://user:S3?cret@collector:4318/v1/metrics", "http://collector:4318"),
        ("http://user:S3#cret@collector:4318/v1/metrics", "http://collector:4318"),
        ("https://user:S3@cr@et@collector:4318/x", "https://collector:4318/x"),
        ("user:S3cret@collector:4318", "(not a URL: not shown)"),
        ("http://collector:4318/?email=a@b.S3cret&x=S3cret", "http://(host not shown)"),
        ("https://[::1]:4318/v1/metrics#S3cret", "https://[::1]:4318/v1/metrics"),
    ])
    func redaction(url: String, expected: String) {
        let redacted = HTTPError.redactedURL(url)
        #expect(redacted == expected)
        #expect(!redacted.contains("S3"))
    }

    @Test("an endpoint whose host part does not parse is rejected without echoing it")
    func badEndpoint() {
        #expect {
            try OTLPExporterConfiguration(signal: .metrics, environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://u:S3cret/x@c:4318\r\n"])
        } throws: { error in
            guard let e = error as? EnvironmentError else { return false }
            return e.variable == "OTEL_EXPORTER_OTLP_ENDPOINT" && !e.description.contains("S3cret")
        }
    }
}

@Suite("An endpoint that spent a retry budget gets single attempts until it acknowledges again")
struct EndpointHealthTests {
    @Test("the state: retries until a budget is spent, none after, retries again after an acknowledgement")
    func transitions() {
        var health = EndpointHealth()
        #expect(health.allowsRetries)
        health.record(.retryBudgetExhausted)
        #expect(!health.allowsRetries)
        health.record(.retryBudgetExhausted)
        #expect(!health.allowsRetries)
        health.record(.acknowledged)
        #expect(health.allowsRetries)
    }
}
