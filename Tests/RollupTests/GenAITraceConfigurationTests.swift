import Environment
import Foundation
import Testing
@testable import OTLP
@testable import Bridge
@testable import Commands
@testable import Observability
@testable import Service
@testable import Rollup

@Suite("GenAITraceConfiguration: EXPERIMENTAL_GEN_AI_OTEL_*")
struct GenAITraceConfigurationTests {
    /// The repository's template, found from this file (Tests/RollupTests/…).
    static let template = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("queries/gen_ai_traces.sql").path

    @Test("off by default, and then nothing else is read, not even a bad value")
    func off() throws {
        let c = try BridgeConfiguration(environment: ["EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE": "lots",
                                                      "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"])
        #expect(c.genAITraces.enabled == false)
    }

    @Test("its own endpoint, headers, protocol and resource; service.name from OTEL_SERVICE_NAME")
    func read() throws {
        let c = try GenAITraceConfiguration(environment: [
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true",
            "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example:4318/",
            "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=s3cret",
            "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
            "EXPERIMENTAL_GEN_AI_OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,service.name=ignored",
            "OTEL_SERVICE_NAME": "gateway-eu", "OTEL_RESOURCE_ATTRIBUTES": "metrics.only=yes",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://metrics.example:4318",
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_LAG": "30", "EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE": "500",
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_DEPRECATED_ATTRIBUTES": "true",
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": Self.template,
        ], configPath: "config/bridge.yaml")
        #expect(c.enabled)
        #expect(c.exporter.endpoint == "https://collector.example:4318/v1/traces")
        #expect(c.exporter.headers.map(\.name) == ["x-api-key"])
        #expect(c.exporter.wireProtocol == .httpJSON)
        #expect(c.resource == [Attribute("service.name", .string("gateway-eu")), Attribute("deployment.environment", .string("prod"))])
        #expect(c.lagSeconds == 30 && c.pageSize == 500 && c.deprecatedAttributes)
        #expect(c.maxSpansPerRequest == 2_000 && c.maxRequestBytes == 4 << 20)
        #expect(c.sql.contains("{after_id:UUID}"))
        #expect(PipelineSchedule.traceInterval(lagSeconds: c.lagSeconds) == 7)
        #expect(PipelineSchedule.traceInterval(lagSeconds: 120) == 30)
    }

    @Test("a bad value names its variable; a missing template is a template error", arguments: [
        ("EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED", "maybe"),
        ("EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE", "0"),
        ("EXPERIMENTAL_GEN_AI_OTEL_TRACES_LAG", "-1"),
        ("EXPERIMENTAL_GEN_AI_OTEL_TRACES_MAX_REQUEST_BYTES", "100"),
        ("EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS", "Content-Type=text/plain"),
        ("EXPERIMENTAL_GEN_AI_OTEL_RESOURCE_ATTRIBUTES", "no-equals-sign"),
    ])
    func refused(name: String, value: String) {
        var env = ["EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true", "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": Self.template]
        env[name] = value
        #expect {
            _ = try GenAITraceConfiguration(environment: EnvironmentValues(env), configPath: "config/bridge.yaml")
        } throws: { error in
            let e = error as? BridgeError
            return e?.code == .configuration && e?.key == name
        }
        #expect {
            _ = try GenAITraceConfiguration(environment: ["EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true",
                                                          "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": "/nonexistent/q.sql"], configPath: "x.yaml")
        } throws: { error in
            (error as? BridgeError)?.code == .template
        }
    }
}
