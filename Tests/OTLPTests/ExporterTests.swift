import CurlHTTP
import SwiftProtobuf
import Testing
@testable import OTLP

@Suite("Reading OTLP/HTTP answers")
struct ResponseTests {
    func response(_ status: Int, headers: [(String, String)] = [], body: [UInt8] = []) -> HTTPResponse {
        HTTPResponse(head: HTTPResponseHead(status: status, headers: headers.map { .init(name: $0.0, value: $0.1) }), body: body)
    }

    @Test("2xx with an empty body is a full acknowledgement")
    func plainSuccess() {
        #expect(OTLPHTTPExporter.interpret(response(200), signal: .metrics, now: 0) == .acknowledged(ExportAcknowledgement()))
    }

    @Test("2xx with partial_success reports the rejected points and message")
    func partial() throws {
        var r = Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceResponse()
        r.partialSuccess.rejectedDataPoints = 7
        r.partialSuccess.errorMessage = "7 points had NaN"
        let outcome = OTLPHTTPExporter.interpret(response(200, headers: [("Content-Type", "application/x-protobuf")], body: try r.serializedBytes()), signal: .metrics, now: 0)
        #expect(outcome == .acknowledged(ExportAcknowledgement(rejected: 7, message: "7 points had NaN")))
    }

    @Test("partial success in JSON")
    func partialJSON() {
        let body = Array(#"{"partialSuccess":{"rejectedDataPoints":"3","errorMessage":"x"}}"#.utf8)
        let outcome = OTLPHTTPExporter.interpret(response(200, headers: [("Content-Type", "application/json")], body: body), signal: .metrics, now: 0)
        #expect(outcome == .acknowledged(ExportAcknowledgement(rejected: 3, message: "x")))
    }

    @Test("429, 502, 503, 504 are retryable; Retry-After in seconds and as an HTTP-date", arguments: [429, 502, 503, 504])
    func retryable(status: Int) {
        #expect(OTLPHTTPExporter.interpret(response(status, headers: [("Retry-After", "7")]), signal: .metrics, now: 0)
                == .retryable(status: status, message: "HTTP \(status)", retryAfter: .seconds(7)))
        let now: Int64 = 1_445_412_480  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(OTLPHTTPExporter.interpret(response(status, headers: [("Retry-After", "Wed, 21 Oct 2015 07:28:30 GMT")]), signal: .metrics, now: now)
                == .retryable(status: status, message: "HTTP \(status)", retryAfter: .seconds(30)))
    }

    @Test("other 4xx fail at once with the google.rpc.Status message", arguments: [400, 401, 403, 404, 413])
    func rejected(status: Int) {
        // google.rpc.Status { code = 3; message = "bad metric" }
        let body: [UInt8] = [0x08, 0x03, 0x12, 0x0A] + Array("bad metric".utf8)
        #expect(OTLPHTTPExporter.interpret(response(status, headers: [("Content-Type", "application/x-protobuf")], body: body), signal: .metrics, now: 0)
                == .failed(status: status, message: "bad metric"))
    }
}

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy(initialBackoff: .seconds(1), maxBackoff: .seconds(8), multiplier: 2, maxElapsed: .seconds(60))

    @Test("exponential ceiling with full jitter, capped")
    func backoff() {
        #expect(policy.delay(afterAttempt: 1, elapsed: .zero, retryAfter: nil, random: 0.999) == .milliseconds(999))
        #expect(policy.delay(afterAttempt: 3, elapsed: .zero, retryAfter: nil, random: 0.5) == .seconds(2))
        #expect(policy.delay(afterAttempt: 10, elapsed: .zero, retryAfter: nil, random: 0.5) == .seconds(4))
        #expect(policy.delay(afterAttempt: 2, elapsed: .zero, retryAfter: nil, random: 0) == .zero)
    }

    @Test("Retry-After is a floor")
    func retryAfter() {
        #expect(policy.delay(afterAttempt: 1, elapsed: .zero, retryAfter: .seconds(5), random: 0.1) == .seconds(5))
    }

    @Test("gives up when the next attempt would start past the budget")
    func budget() {
        #expect(policy.delay(afterAttempt: 4, elapsed: .seconds(59), retryAfter: nil, random: 0.5) == nil)
        #expect(policy.delay(afterAttempt: 1, elapsed: .seconds(10), retryAfter: .seconds(55), random: 0) == nil)
    }
}

@Suite("The swift-protobuf encoder")
struct EncoderTests {
    let batch = MetricBatch(
        resource: [Attribute("service.name", .string("otel-bridge"))],
        scope: InstrumentationScope(name: "otel-bridge", version: "0.1.0"),
        metrics: [
            Metric(name: "portkey.requests", description: "Requests", unit: "{request}", data: .sum(isMonotonic: true, temporality: .cumulative, points: [
                NumberPoint(attributes: [Attribute("gen_ai.provider.name", .string("openai")), Attribute("http.response.status_code", .int(200))],
                            startTimeUnixNano: 60_000_000_000, timeUnixNano: 120_000_000_000, value: .int(42)),
            ])),
            Metric(name: "gen_ai.client.operation.duration", description: "", unit: "s", data: .histogram(temporality: .delta, points: [
                HistogramPoint(attributes: [], startTimeUnixNano: 60_000_000_000, timeUnixNano: 120_000_000_000, count: 3, sum: 1.5,
                               bucketCounts: [1, 2, 0], explicitBounds: [0.1, 1], min: 0.05, max: 0.9),
            ])),
            Metric(name: "portkey.request.latency", description: "", unit: "s", data: .summary(points: [
                SummaryPoint(attributes: [], startTimeUnixNano: 60_000_000_000, timeUnixNano: 120_000_000_000, count: 3, sum: 1.5,
                             quantiles: [.init(quantile: 0.5, value: 0.55)]),
            ])),
        ])

    @Test("protobuf decodes back to the values sent")
    func protobuf() throws {
        let bytes = try SwiftProtobufMetricsEncoder().encode(batch, as: .httpProtobuf)
        let decoded = try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest(serializedBytes: bytes)
        let scope = decoded.resourceMetrics[0].scopeMetrics[0]
        #expect(decoded.resourceMetrics[0].resource.attributes[0].value.stringValue == "otel-bridge")
        #expect(scope.scope.name == "otel-bridge" && scope.scope.version == "0.1.0")
        let sum = scope.metrics[0].sum
        #expect(sum.isMonotonic && sum.aggregationTemporality == .cumulative)
        #expect(sum.dataPoints[0].asInt == 42)
        #expect(sum.dataPoints[0].attributes[1].value.intValue == 200)
        let h = scope.metrics[1].histogram.dataPoints[0]
        #expect(h.bucketCounts == [1, 2, 0] && h.explicitBounds == [0.1, 1] && h.min == 0.05 && h.max == 0.9 && h.sum == 1.5)
        #expect(scope.metrics[2].summary.dataPoints[0].quantileValues[0].value == 0.55)
    }

    @Test("JSON uses lowerCamelCase names and integer enums")
    func json() throws {
        let text = String(decoding: try SwiftProtobufMetricsEncoder().encode(batch, as: .httpJSON), as: UTF8.self)
        #expect(text.contains("\"resourceMetrics\""))
        #expect(text.contains("\"aggregationTemporality\":2"))
        #expect(text.contains("\"timeUnixNano\":\"120000000000\""))
    }

    @Test("gzip output inflates back (checked by its header and size)")
    func gzip() {
        let data = Array(repeating: UInt8(ascii: "a"), count: 10_000)
        let z = Gzip.compress(data)
        #expect(z.prefix(2) == [0x1F, 0x8B])
        #expect(z.count < 200)
    }
}
