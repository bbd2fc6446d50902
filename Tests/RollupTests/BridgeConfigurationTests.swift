import Foundation
import Logging
import Testing
@testable import OTLP
@testable import Bridge
@testable import Commands
@testable import Observability
@testable import Service
@testable import Rollup
import PipelineConfig

@Suite("BridgeConfiguration: the environment")
struct BridgeConfigurationTests {
    @Test("defaults of an empty environment")
    func defaults() throws {
        let c = try BridgeConfiguration(environment: [:])
        #expect(c.pushEnabled == false)
        #expect(c.temporality == .cumulative)
        #expect(c.configPath == "config/bridge.yaml")
        #expect(c.startAt == nil)
        #expect(c.checkpointDatabaseURL == nil)
        #expect(c.clickhouse.url == "http://localhost:8123")
        #expect(c.clickhouse.user == "default")
        #expect(c.clickhouse.password == "")
        #expect(c.clickhouse.database == "default")
        #expect(c.metricsExporter.endpoint == "http://localhost:4318/v1/metrics")
        #expect(c.resource == [Attribute("service.name", .string("otel-bridge"))])
        #expect(c.retryPolicy.maxElapsed == .seconds(300))
    }

    @Test("variables are read", arguments: [[
        "CLICKHOUSE_URL": "https://ch.example:8443", "CLICKHOUSE_DATABASE": "gateway",
        "CHECKPOINT_DATABASE_URL": "postgres://bridge@db/bridge", "BRIDGE_CONFIG": "/etc/bridge/pipelines.yaml",
        "OTEL_SERVICE_NAME": "bridge-eu", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod",
        "OTEL_ENDPOINT": "https://otlp.example", "BRIDGE_EXPORT_MAX_ELAPSED": "2.5",
    ]])
    func variables(env: [String: String]) throws {
        let c = try BridgeConfiguration(environment: env)
        #expect(c.clickhouse.url == "https://ch.example:8443")
        #expect(c.clickhouse.database == "gateway")
        #expect(c.checkpointDatabaseURL == "postgres://bridge@db/bridge")
        #expect(c.configPath == "/etc/bridge/pipelines.yaml")
        #expect(c.resource == [Attribute("service.name", .string("bridge-eu")), Attribute("deployment.environment", .string("prod"))])
        #expect(c.metricsExporter.endpoint == "https://otlp.example/v1/metrics")
        #expect(c.retryPolicy.maxElapsed == .milliseconds(2_500))
    }

    @Test("OTEL_SEMCONV_STABILITY_OPT_IN: gen_ai_latest_experimental anywhere in the list; anything else is v1.41.1", arguments: [
        (nil, GenAIConventions.v1_41_1), ("", .v1_41_1), ("gen_ai_latest_experimental", .latestExperimental),
        ("http,gen_ai_latest_experimental", .latestExperimental), (" database , gen_ai_latest_experimental ", .latestExperimental),
        ("http/dup", .v1_41_1), ("gen_ai_latest_experimental_x", .v1_41_1), ("GEN_AI_LATEST_EXPERIMENTAL", .v1_41_1),
    ] as [(String?, GenAIConventions)])
    func semconvOptIn(text: String?, expected: GenAIConventions) throws {
        let c = try BridgeConfiguration(environment: text.map { ["OTEL_SEMCONV_STABILITY_OPT_IN": $0] } ?? [:])
        #expect(c.genAIConventions == expected)
        #expect(c.genAITraces.conventions == expected)
    }

    @Test("OTEL_PUSH_ENABLED", arguments: [
        ("true", true), ("TRUE", true), ("True", true), ("1", true), ("yes", true), (" true ", true),
        ("false", false), ("FALSE", false), ("0", false), ("no", false), ("", false),
    ])
    func pushEnabled(text: String, expected: Bool) throws {
        #expect(try BridgeConfiguration(environment: ["OTEL_PUSH_ENABLED": text]).pushEnabled == expected)
    }

    @Test("OTEL_PUSH_ENABLED with another value is an error naming the variable", arguments: ["maybe", "on", "2"])
    func pushEnabledInvalid(text: String) throws {
        let error = try #require(captureError { () throws(BridgeError) in try BridgeConfiguration(environment: ["OTEL_PUSH_ENABLED": text]) })
        #expect(error.code == .configuration)
        #expect(error.key == "OTEL_PUSH_ENABLED")
        #expect(error.message.contains("'\(text)'"))
    }

    @Test("temporality preference", arguments: [
        ("cumulative", AggregationTemporality.cumulative), ("Cumulative", .cumulative), ("delta", .delta), ("DELTA", .delta),
        ("lowmemory", .delta), ("LowMemory", .delta), ("", .cumulative),
    ])
    func temporality(text: String, expected: AggregationTemporality) throws {
        let env = ["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": text]
        #expect(try BridgeConfiguration(environment: env).temporality == expected)
    }

    @Test("a bad temporality preference is an error naming the variable")
    func temporalityInvalid() throws {
        let env = ["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "sometimes"]
        let error = try #require(captureError { () throws(BridgeError) in try BridgeConfiguration(environment: env) })
        #expect(error.code == .configuration)
        #expect(error.key == "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
        #expect(error.message.contains("'sometimes'"))
        #expect(error.description.contains("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"))
    }

    @Test("BRIDGE_START_AT", arguments: [
        ("2026-11-01T00:00:00Z", 1_793_491_200 * second),
        ("2026-11-29T10:00:00.250Z", T + 250_000_000),
        ("2026-11-29T11:00:00+01:00", T),
        ("2026-11-29", T - 10 * 3_600 * second),
    ])
    func startAt(text: String, expected: Int64) throws {
        #expect(try BridgeConfiguration(environment: ["BRIDGE_START_AT": text]).startAt == expected)
    }

    @Test("a BRIDGE_START_AT that is not an ISO 8601 time is an error naming the variable",
          arguments: ["yesterday", "2026-13-01T00:00:00Z", "1793491200", "2026-11-01 25:00",
                      // Outside what Int64 nanoseconds hold: a clear error, never an overflow trap.
                      "1500-01-01T00:00:00Z", "3000-01-01T00:00:00Z", "99999999999999999-01-01", "2026-11-01T00:00:00+99:00"])
    func startAtInvalid(text: String) throws {
        let error = try #require(captureError { () throws(BridgeError) in try BridgeConfiguration(environment: ["BRIDGE_START_AT": text]) })
        #expect(error.code == .configuration)
        #expect(error.key == "BRIDGE_START_AT")
        #expect(error.message.contains("'\(text)'"))
    }

    @Test("BRIDGE_MAX_POINT_AGE: a duration; every pipeline whose YAML sets no max_point_age takes it")
    func maxPointAge() throws {
        #expect(try BridgeConfiguration(environment: [:]).maxPointAgeSeconds == nil)
        #expect(try BridgeConfiguration(environment: ["BRIDGE_MAX_POINT_AGE": "1h"]).maxPointAgeSeconds == 3_600)
        #expect(try BridgeConfiguration(environment: ["BRIDGE_MAX_POINT_AGE": "600"]).maxPointAgeSeconds == 600)
        for bad in ["soon", "-5m", "400d"] {
            let error = try #require(captureError { () throws(BridgeError) in try BridgeConfiguration(environment: ["BRIDGE_MAX_POINT_AGE": bad]) })
            #expect(error.code == .configuration && error.key == "BRIDGE_MAX_POINT_AGE", "\(bad)")
        }
        let pipelines = try parsePipelines("""
            pipelines:
              - name: a
                query: a.sql
                metrics: [{metric_name: a.n, data_type: sum, value_column: n}]
              - name: b
                query: a.sql
                max_point_age: 0
                metrics: [{metric_name: b.n, data_type: sum, value_column: n}]
            """)
        let bridge = Bridge(configuration: try BridgeConfiguration(environment: ["BRIDGE_MAX_POINT_AGE": "1h"]), pipelines: pipelines, logger: Logger(label: "t"))
        #expect(bridge.pipelines.map(\.maxPointAgeSeconds) == [3_600, 0], "a pipeline's own 0 (off) wins")
    }

    @Test("errors of the exporter and ClickHouse variables are configuration errors", arguments: [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), ("OTEL_ENDPOINT", "ftp://x"), ("CLICKHOUSE_COMPRESSION", "maybe"),
        ("BRIDGE_EXPORT_MAX_ELAPSED", "-1"), ("BRIDGE_EXPORT_MAX_ELAPSED", "1e300"), ("BRIDGE_EXPORT_MAX_ELAPSED", "nan"),
    ])
    func otherErrors(variable: String, value: String) throws {
        let error = try #require(captureError { () throws(BridgeError) in try BridgeConfiguration(environment: [variable: value]) })
        #expect(error.code == .configuration)
        #expect(error.code.exitCode == 2)
    }

    @Test("a BRIDGE_START_AT in the future is refused before anything runs (it would become a watermark)")
    func startAtInFuture() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("unused-\(UUID().uuidString).yaml").path
        let error = try #require(captureError { () throws(BridgeError) in
            _ = try Bridge.load(environment: ["BRIDGE_START_AT": "2026-12-01T00:00:00Z", "BRIDGE_CONFIG": file],
                                logger: Logger(label: "test"), now: { T })
        })
        #expect(error.code == .configuration && error.key == "BRIDGE_START_AT")
        #expect(error.message.contains("future"))
    }

    @Test("a CHECKPOINT_DATABASE_URL libpq cannot read is a configuration error (exit 2) that never shows it",
          arguments: ["postgresql://bridge:pw-secret-77@db@host/x", "host=db password='pw-secret-77", "postgres//bridge:pw-secret-77@h:1:2/x"])
    func malformedCheckpointURL(url: String) throws {
        let error = try #require(captureError { () throws(BridgeError) in try BridgeConfiguration(environment: ["CHECKPOINT_DATABASE_URL": url]) })
        #expect(error.code == .configuration && error.code.exitCode == 2)
        #expect(error.key == "CHECKPOINT_DATABASE_URL")
        #expect(!error.description.contains("pw-secret-77") && !error.debugDescription.contains("pw-secret-77"))
    }
}
