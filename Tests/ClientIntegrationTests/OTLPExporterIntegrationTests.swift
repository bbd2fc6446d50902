import CurlHTTP
import Foundation
import OTLP
import Testing
import TestSupport

/// `OTLPHTTPExporter` and `SwiftProtobufMetricsEncoder` against the OTLP receiver of `scripts/stack.sh`.
///
/// Serialized: the receiver's script is global (each export pops its next entry). Records are
/// found by a resource attribute unique to the test, never by position, so exports of other
/// targets running at the same time do not confuse them; the script is emptied afterwards, and
/// `/__reset` (which would drop other tests' records) is never called.
@Suite("OTLP exporter against the test receiver", .serialized)
struct OTLPExporterIntegrationTests {
    static let runKey = "otel_bridge.test_run"

    // MARK: - The batch

    static let start: UInt64 = 1_772_600_760_000_000_000  // 2026-03-04 05:06:00 UTC
    static let end: UInt64 = 1_772_600_820_000_000_000  // 2026-03-04 05:07:00 UTC

    static let pointAttributes: [Attribute] = [
        Attribute("ai.org", .string("openai")),
        Attribute("workspace", .string("staging \t 漢字 'q' \"dq\" 😀")),
        Attribute("http.status_code", .int(503)),
        Attribute("big.int", .int(-9_007_199_254_740_993)),
        Attribute("cost.ratio", .double(0.1)),
        Attribute("cache.hit", .bool(true)),
        Attribute("stream", .bool(false)),
    ]

    static func batch(run: String) -> MetricBatch {
        MetricBatch(
            resource: [
                Attribute("service.name", .string("otel-bridge-it")),
                Attribute(runKey, .string(run)),
                Attribute("host.cores", .int(2)),
            ],
            scope: InstrumentationScope(name: "otel-bridge", version: "0.1.0-it"),
            metrics: [
                Metric(name: "gen_ai.gateway.requests", description: "Requests through the gateway", unit: "{request}",
                       data: .sum(isMonotonic: true, temporality: .delta, points: [
                           NumberPoint(attributes: pointAttributes, startTimeUnixNano: start, timeUnixNano: end,
                                       value: .int(9_007_199_254_740_993)),
                           NumberPoint(attributes: [Attribute("ai.org", .string("anthropic"))],
                                       startTimeUnixNano: start, timeUnixNano: end, value: .int(7)),
                       ])),
                Metric(name: "gen_ai.gateway.cost", description: "Cost", unit: "USD",
                       data: .gauge(points: [
                           NumberPoint(attributes: [Attribute("ai.org", .string("openai"))], startTimeUnixNano: start,
                                       timeUnixNano: end, value: .double(-1.5e300)),
                       ])),
                Metric(name: "gen_ai.gateway.latency", description: "Latency", unit: "ms",
                       data: .histogram(temporality: .cumulative, points: [
                           HistogramPoint(attributes: pointAttributes, startTimeUnixNano: start, timeUnixNano: end,
                                          count: 10, sum: 1234.5, bucketCounts: [1, 0, 6, 3],
                                          explicitBounds: [10, 100.5, 1000], min: 1.25, max: 2500.75),
                       ])),
                Metric(name: "gen_ai.gateway.tokens", description: "Tokens", unit: "{token}",
                       data: .summary(points: [
                           SummaryPoint(attributes: [Attribute("ai.model", .string("gpt-4o"))], startTimeUnixNano: start,
                                        timeUnixNano: end, count: 4, sum: 400.5, quantiles: [
                                            .init(quantile: 0, value: 1),
                                            .init(quantile: 0.5, value: 50.5),
                                            .init(quantile: 0.99, value: 300.25),
                                            .init(quantile: 1, value: 301),
                                        ]),
                       ])),
            ])
    }

    static func configuration(
        _ wire: OTLPExporterConfiguration.WireProtocol = .httpProtobuf,
        _ compression: OTLPExporterConfiguration.Compression = .none,
        headers: [(name: String, value: String)] = [],
        endpoint: String = ClientScope.otlpMetricsEndpoint
    ) -> OTLPExporterConfiguration {
        OTLPExporterConfiguration(endpoint: endpoint, headers: headers, wireProtocol: wire, compression: compression,
                                  timeout: .seconds(5))
    }

    /// Small backoffs; the waits are recorded by the fake `sleep`.
    static let fastRetries = RetryPolicy(
        initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(40), multiplier: 2, maxElapsed: .seconds(20))

    struct Export: Sendable {
        var result: Result<ExportAcknowledgement, any Error>
        var waits: [Duration]
    }

    /// Encodes the batch of `run` and exports it on a thread of its own; sleeps are recorded, not slept
    /// (unless `reallySleep`).
    static func export(
        run: String, configuration: OTLPExporterConfiguration, retryPolicy: RetryPolicy = fastRetries,
        reallySleep: Bool = false
    ) async -> Export {
        let waits = Collected<Duration>()
        let result = await onThread { () throws -> ExportAcknowledgement in
            let body = try SwiftProtobufMetricsEncoder().encode(batch(run: run), as: configuration.wireProtocol)
            let exporter = OTLPHTTPExporter(
                configuration: configuration, signal: .metrics, retryPolicy: retryPolicy,
                sleep: { wait in
                    waits.append(wait)
                    if reallySleep { Thread.sleep(forTimeInterval: Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18) }
                },
                random: { 0.5 })
            return try exporter.export(body: body)
        }
        return Export(result: result, waits: waits.values)
    }

    // MARK: - JSON helpers (protobuf JSON mapping: camelCase, 64-bit integers as strings)

    static func object(_ value: Any?) throws -> [String: Any] {
        try #require(value as? [String: Any], "expected a JSON object, got \(String(describing: value))")
    }

    static func array(_ value: Any?) throws -> [Any] {
        try #require(value as? [Any], "expected a JSON array, got \(String(describing: value))")
    }

    static func number(_ value: Any?) -> Double? {
        (value as? NSNumber)?.doubleValue
    }

    /// `{"key": k, "value": {"stringValue": …}}` lists as comparable pairs.
    static func attributes(_ value: Any?) throws -> [String: String] {
        var out: [String: String] = [:]
        for item in try array(value ?? []) {
            let kv = try object(item)
            let key = try #require(kv["key"] as? String)
            let v = try object(kv["value"])
            #expect(v.count == 1, "one value per attribute: \(v)")
            if let s = v["stringValue"] as? String { out[key] = "string:" + s }
            else if let i = v["intValue"] as? String { out[key] = "int:" + i }
            else if let d = number(v["doubleValue"]) { out[key] = "double:\(d)" }
            else if let b = v["boolValue"] as? Bool { out[key] = "bool:\(b)" }
            else { out[key] = "unexpected:\(v)" }
        }
        return out
    }

    static let expectedPointAttributes: [String: String] = [
        "ai.org": "string:openai",
        "workspace": "string:staging \t 漢字 'q' \"dq\" 😀",
        "http.status_code": "int:503",
        "big.int": "int:-9007199254740993",
        "cost.ratio": "double:0.1",
        "cache.hit": "bool:true",
        // A false bool is the default value; protobuf JSON still writes the oneof member.
        "stream": "bool:false",
    ]

    /// Asserts that the decoded request body holds exactly the batch of `run`.
    static func assertDecoded(_ body: [String: Any], run: String) throws {
        let resourceMetrics = try array(body["resourceMetrics"])
        try #require(resourceMetrics.count == 1)
        let rm = try object(resourceMetrics[0])
        #expect(try attributes(object(rm["resource"])["attributes"]) == [
            "service.name": "string:otel-bridge-it", runKey: "string:" + run, "host.cores": "int:2",
        ])
        let scopeMetrics = try array(rm["scopeMetrics"])
        try #require(scopeMetrics.count == 1)
        let sm = try object(scopeMetrics[0])
        let scope = try object(sm["scope"])
        #expect(scope["name"] as? String == "otel-bridge")
        #expect(scope["version"] as? String == "0.1.0-it")
        let metrics = try array(sm["metrics"]).map(object)
        #expect(metrics.map { $0["name"] as? String } == [
            "gen_ai.gateway.requests", "gen_ai.gateway.cost", "gen_ai.gateway.latency", "gen_ai.gateway.tokens",
        ])
        try #require(metrics.count == 4)

        // Sum (int)
        let requests = metrics[0]
        #expect(requests["description"] as? String == "Requests through the gateway")
        #expect(requests["unit"] as? String == "{request}")
        let sum = try object(requests["sum"])
        #expect(sum["isMonotonic"] as? Bool == true)
        #expect(sum["aggregationTemporality"] as? String == "AGGREGATION_TEMPORALITY_DELTA")
        let sumPoints = try array(sum["dataPoints"]).map(object)
        try #require(sumPoints.count == 2)
        #expect(try attributes(sumPoints[0]["attributes"]) == expectedPointAttributes)
        #expect(sumPoints[0]["startTimeUnixNano"] as? String == "1772600760000000000")
        #expect(sumPoints[0]["timeUnixNano"] as? String == "1772600820000000000")
        #expect(sumPoints[0]["asInt"] as? String == "9007199254740993")
        #expect(sumPoints[0]["asDouble"] == nil)
        #expect(try attributes(sumPoints[1]["attributes"]) == ["ai.org": "string:anthropic"])
        #expect(sumPoints[1]["asInt"] as? String == "7")

        // Gauge (double)
        let cost = metrics[1]
        #expect(cost["unit"] as? String == "USD")
        let gaugePoints = try array(try object(cost["gauge"])["dataPoints"]).map(object)
        try #require(gaugePoints.count == 1)
        #expect(number(gaugePoints[0]["asDouble"]) == -1.5e300)
        #expect(gaugePoints[0]["asInt"] == nil)

        // Histogram
        let latency = metrics[2]
        #expect(latency["unit"] as? String == "ms")
        let histogram = try object(latency["histogram"])
        #expect(histogram["aggregationTemporality"] as? String == "AGGREGATION_TEMPORALITY_CUMULATIVE")
        let histogramPoints = try array(histogram["dataPoints"]).map(object)
        try #require(histogramPoints.count == 1)
        let hp = histogramPoints[0]
        #expect(try attributes(hp["attributes"]) == expectedPointAttributes)
        #expect(hp["startTimeUnixNano"] as? String == "1772600760000000000")
        #expect(hp["timeUnixNano"] as? String == "1772600820000000000")
        #expect(hp["count"] as? String == "10")
        #expect(number(hp["sum"]) == 1234.5)
        #expect(hp["bucketCounts"] as? [String] == ["1", "0", "6", "3"])
        #expect((hp["explicitBounds"] as? [Any])?.compactMap(number) == [10, 100.5, 1000])
        #expect(number(hp["min"]) == 1.25)
        #expect(number(hp["max"]) == 2500.75)

        // Summary
        let tokens = metrics[3]
        let summaryPoints = try array(try object(tokens["summary"])["dataPoints"]).map(object)
        try #require(summaryPoints.count == 1)
        let sp = summaryPoints[0]
        #expect(try attributes(sp["attributes"]) == ["ai.model": "string:gpt-4o"])
        #expect(sp["count"] as? String == "4")
        #expect(number(sp["sum"]) == 400.5)
        let quantiles = try array(sp["quantileValues"]).map(object)
        // A quantile of 0 is the default value and is left out by the JSON mapping.
        #expect(quantiles.map { number($0["quantile"]) ?? 0 } == [0, 0.5, 0.99, 1])
        #expect(quantiles.map { number($0["value"]) ?? 0 } == [1, 50.5, 300.25, 301])
    }

    // MARK: - Tests

    @Test("an export reaches the receiver and decodes there to the values sent",
          arguments: [OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON],
          [OTLPExporterConfiguration.Compression.none, .gzip])
    func roundTrip(wire: OTLPExporterConfiguration.WireProtocol, compression: OTLPExporterConfiguration.Compression) async throws {
        let run = "round-trip-" + uniqueSuffix()
        let token = "token-" + uniqueSuffix()
        let export = await Self.export(run: run, configuration: Self.configuration(
            wire, compression, headers: [("X-Test-Token", token), ("X-Scope-OrgID", "Tenant-A")]))

        #expect(try export.result.get() == ExportAcknowledgement(rejected: 0, message: nil, attempts: 1))
        #expect(export.waits.isEmpty)
        let records = try Receiver.records(resourceKey: Self.runKey, value: run)
        try #require(records.count == 1)
        let record = records[0]
        #expect(record["status"] as? Int == 200)
        #expect(record["accepted"] as? Bool == true)
        #expect(record["path"] as? String == ClientScope.receiverScope + "/v1/metrics")
        #expect(record["content_type"] as? String == (wire == .httpJSON ? "application/json" : "application/x-protobuf"))
        #expect(record["content_encoding"] as? String == (compression == .gzip ? "gzip" : ""))
        let headers = try Self.object(record["headers"])
        #expect(headers["x-test-token"] as? String == token)
        #expect(headers["x-scope-orgid"] as? String == "Tenant-A")
        #expect(headers["user-agent"] as? String == "otel-bridge")
        try Self.assertDecoded(try Self.object(record["body"]), run: run)
    }

    @Test("503 with Retry-After: 1, then 200: acknowledged after 2 attempts, having waited at least 1 s",
          arguments: [OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON])
    func retryAfter(wire: OTLPExporterConfiguration.WireProtocol) async throws {
        defer { ClientScope.clearReceiverScript() }
        let run = "retry-after-" + uniqueSuffix()
        try ClientScope.scriptReceiver([
            ["status": 503, "retry_after": 1, "message": "collector is overloaded"],
            ["status": 200],
        ])
        let export = await Self.export(run: run, configuration: Self.configuration(wire))

        #expect(try export.result.get() == ExportAcknowledgement(rejected: 0, message: nil, attempts: 2))
        #expect(export.waits.count == 1)
        // Retry-After wins over the 10 ms backoff.
        #expect(export.waits.first.map { $0 >= .seconds(1) } == true, "waits: \(export.waits)")
        #expect(export.waits.first.map { $0 < .seconds(2) } == true, "waits: \(export.waits)")
        let records = try Receiver.records(resourceKey: Self.runKey, value: run)
        #expect(records.map { $0["status"] as? Int } == [503, 200])
        for record in records { try Self.assertDecoded(try Self.object(record["body"]), run: run) }
    }

    @Test("429 without Retry-After is retried with the policy's backoff",
          arguments: [OTLPExporterConfiguration.WireProtocol.httpProtobuf])
    func backoff(wire: OTLPExporterConfiguration.WireProtocol) async throws {
        defer { ClientScope.clearReceiverScript() }
        let run = "backoff-" + uniqueSuffix()
        try ClientScope.scriptReceiver([["status": 429], ["status": 502], ["status": 504], ["status": 200]])
        let export = await Self.export(run: run, configuration: Self.configuration(wire))

        #expect(try export.result.get().attempts == 4)
        // Full jitter with random 0.5 of 10, 20, 40 ms ceilings.
        #expect(export.waits == [.milliseconds(5), .milliseconds(10), .milliseconds(20)])
        #expect(try Receiver.records(resourceKey: Self.runKey, value: run).map { $0["status"] as? Int }
                == [429, 502, 504, 200])
    }

    @Test("400 with a message is .rejected at once, carrying the receiver's message",
          arguments: [OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON])
    func rejected(wire: OTLPExporterConfiguration.WireProtocol) async throws {
        defer { ClientScope.clearReceiverScript() }
        let run = "rejected-" + uniqueSuffix()
        let message = "metric gen_ai.gateway.requests: invalid unit ✗ \(run)"
        try ClientScope.scriptReceiver([["status": 400, "message": message], ["status": 200]])
        let export = await Self.export(run: run, configuration: Self.configuration(wire))

        let error = try #require(export.result.failure as? OTLPExportError, "expected OTLPExportError, got \(export.result)")
        #expect(error.code == .rejected)
        #expect(error.httpStatus == 400)
        #expect(error.message == message)
        #expect(error.attempts == 1)
        #expect(error.endpoint == ClientScope.otlpMetricsEndpoint)
        #expect(error.description.contains(message))
        #expect(export.waits.isEmpty)
        #expect(try Receiver.records(resourceKey: Self.runKey, value: run).map { $0["status"] as? Int } == [400])
    }

    @Test("a partial success is an acknowledgement with the rejected count and message",
          arguments: [OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON])
    func partialSuccess(wire: OTLPExporterConfiguration.WireProtocol) async throws {
        defer { ClientScope.clearReceiverScript() }
        let run = "partial-" + uniqueSuffix()
        try ClientScope.scriptReceiver([[
            "status": 200,
            "partial_success": ["rejected_data_points": 3, "error_message": "3 points had NaN values"],
        ]])
        let export = await Self.export(run: run, configuration: Self.configuration(wire))

        #expect(try export.result.get() == ExportAcknowledgement(rejected: 3, message: "3 points had NaN values", attempts: 1))
        #expect(try Receiver.records(resourceKey: Self.runKey, value: run).count == 1)
    }

    @Test("a connection the receiver drops without answering is retried")
    func droppedConnection() async throws {
        defer { ClientScope.clearReceiverScript() }
        let run = "dropped-" + uniqueSuffix()
        try ClientScope.scriptReceiver([["close_connection": true], ["status": 200]])
        let export = await Self.export(run: run, configuration: Self.configuration())

        #expect(try export.result.get().attempts == 2)
        #expect(export.waits.count == 1)
    }

    @Test("connection refused is retried until the budget is spent, then .retriesExhausted")
    func connectionRefused() async throws {
        let run = "refused-" + uniqueSuffix()
        let endpoint = Services.closedPortURL() + "/v1/metrics"
        let policy = RetryPolicy(initialBackoff: .milliseconds(20), maxBackoff: .milliseconds(50), multiplier: 2,
                                 maxElapsed: .milliseconds(300))
        let export = await Self.export(run: run, configuration: Self.configuration(endpoint: endpoint),
                                       retryPolicy: policy, reallySleep: true)

        let error = try #require(export.result.failure as? OTLPExportError, "expected OTLPExportError, got \(export.result)")
        #expect(error.code == .retriesExhausted)
        #expect(error.httpStatus == nil)
        #expect(error.attempts >= 2)
        #expect(error.attempts == export.waits.count + 1)
        #expect(error.message.contains("connection failed"))
        #expect(error.endpoint == endpoint)
        #expect(export.waits.allSatisfy { $0 <= .milliseconds(50) })
    }
}
