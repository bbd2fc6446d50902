import Environment
import Testing
@testable import OTLP

@Suite("OTLP endpoint rules")
struct EndpointTests {
    @Test("a signal-specific endpoint is used as is")
    func specific() throws {
        let c = try OTLPExporterConfiguration(signal: .metrics, environment: [
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://collector:4318/custom/path",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://other:4318",
        ])
        #expect(c.endpoint == "https://collector:4318/custom/path")
    }

    @Test("base URLs get /v1/<signal>, with or without a trailing slash")
    func base() throws {
        #expect(try OTLPExporterConfiguration(signal: .metrics, environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"]).endpoint == "http://c:4318/v1/metrics")
        #expect(try OTLPExporterConfiguration(signal: .metrics, environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/base/"]).endpoint == "http://c:4318/base/v1/metrics")
        #expect(try OTLPExporterConfiguration(signal: .traces, environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"]).endpoint == "http://c:4318/v1/traces")
    }

    @Test("the gateway's OTEL_ENDPOINT wins over OTEL_EXPORTER_OTLP_ENDPOINT")
    func gatewayVariable() throws {
        let c = try OTLPExporterConfiguration(signal: .metrics, environment: [
            "OTEL_ENDPOINT": "http://gateway-collector:4318", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
        ])
        #expect(c.endpoint == "http://gateway-collector:4318/v1/metrics")
    }

    @Test("no variable: the OTel default")
    func defaults() throws {
        let c = try OTLPExporterConfiguration(signal: .metrics, environment: [:])
        #expect(c.endpoint == "http://localhost:4318/v1/metrics")
        #expect(c.wireProtocol == .httpProtobuf)
        #expect(c.compression == .none)
        #expect(c.timeout == .seconds(10))
    }

    @Test("the GenAI traces prefix reads its own variables")
    func prefixed() throws {
        let c = try OTLPExporterConfiguration(signal: .traces, environment: [
            "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": "http://traces:4318",
            "OTEL_ENDPOINT": "http://metrics:4318",
            "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS": "x-key=abc",
        ], prefix: "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP")
        #expect(c.endpoint == "http://traces:4318/v1/traces")
        #expect(c.headers.map(\.name) == ["x-key"])
    }

    @Test("bad values name the variable", arguments: [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/thrift"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "ten"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
    ])
    func invalid(variable: String, value: String) {
        #expect {
            try OTLPExporterConfiguration(signal: .metrics, environment: [variable: value])
        } throws: { error in
            (error as? EnvironmentError)?.variable == variable
        }
    }

    @Test("protocol, compression, timeout and TLS files; the signal-specific variable wins")
    func options() throws {
        let files = try TemporaryFiles(["ca.pem", "c.pem", "k.pem"])
        let c = try OTLPExporterConfiguration(signal: .metrics, environment: [
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": files.path("ca.pem"),
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": files.path("c.pem"), "OTEL_EXPORTER_OTLP_CLIENT_KEY": files.path("k.pem"),
        ])
        #expect(c.wireProtocol == .httpJSON)
        #expect(c.compression == .gzip)
        #expect(c.timeout == .milliseconds(2500))
        #expect(c.tls.caFile == files.path("ca.pem"))
        #expect(c.tls.clientCertificateFile == files.path("c.pem"))
        #expect(c.tls.clientKeyFile == files.path("k.pem"))
    }
}

@Suite("Header and resource-attribute lists")
struct KeyValueListTests {
    @Test("values are percent-decoded and trimmed")
    func decoding() throws {
        let list = try KeyValueList.parse(" api-key = secret%3Dvalue%2C1 , x-scope=a%20b ", variable: "V")
        #expect(list.map(\.key) == ["api-key", "x-scope"])
        #expect(list.map(\.value) == ["secret=value,1", "a b"])
    }

    @Test("a value may contain '=' after the first one")
    func equalsInValue() throws {
        #expect(try KeyValueList.parse("Authorization=Basic dXNlcjpwYXNz==", variable: "V").first?.value == "Basic dXNlcjpwYXNz==")
    }

    @Test("a malformed list is rejected whole, without echoing values", arguments: [
        "good=1,bad", "=nokey", "k=%zz", "k=%4",
    ])
    func malformed(text: String) {
        #expect {
            try KeyValueList.parse(text, variable: "OTEL_EXPORTER_OTLP_HEADERS")
        } throws: { error in
            guard let e = error as? EnvironmentError else { return false }
            return e.variable == "OTEL_EXPORTER_OTLP_HEADERS" && !e.description.contains("%zz")
        }
    }

    @Test("signal-specific headers override general ones with the same key")
    func override() throws {
        let c = try OTLPExporterConfiguration(signal: .metrics, environment: [
            "OTEL_EXPORTER_OTLP_HEADERS": "a=1,B=2", "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "b=3",
        ])
        #expect(c.headers.map { "\($0.name)=\($0.value)" } == ["a=1", "b=3"])
    }

    @Test("OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES")
    func serviceName() throws {
        let env = ["OTEL_RESOURCE_ATTRIBUTES": "service.name=from-list,deployment.environment=prod%20eu", "OTEL_SERVICE_NAME": "bridge-eu"]
        let attrs = try OTLPResource.attributes(environment: EnvironmentValues(env))
        #expect(attrs.map(\.key) == ["service.name", "deployment.environment"])
        #expect(attrs.map(\.value) == ["bridge-eu", "prod eu"])
        #expect(try OTLPResource.attributes(environment: ["OTEL_RESOURCE_ATTRIBUTES": "service.name=from-list"]).first?.value == "from-list")
        #expect(try OTLPResource.attributes(environment: [:]).first?.value == "otel-bridge")
    }

    @Test("a malformed OTEL_RESOURCE_ATTRIBUTES is an error")
    func badResource() {
        #expect(throws: EnvironmentError.self) {
            try OTLPResource.attributes(environment: ["OTEL_RESOURCE_ATTRIBUTES": "team"])
        }
    }
}
