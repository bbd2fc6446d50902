import CurlHTTP
import Foundation
import OTLP
import PipelineConfig
import Rollup

/// The experimental GenAI traces pipeline's settings (`EXPERIMENTAL_GEN_AI_OTEL_*`), read once
/// from the environment. When the pipeline is not enabled nothing else is read, so a half-set
/// traces configuration never stops the metrics.
public struct GenAITraceConfiguration: Sendable {
    /// The pipeline's name in `otel_bridge.checkpoints` and `runs`.
    public static let pipeline = "gen_ai_traces"

    /// `EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED`, default false.
    public var enabled = false
    /// `EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT` (base URL; spans go to `<base>/v1/traces`),
    /// `…_TRACES_ENDPOINT` (as is), `…_HEADERS`, `…_PROTOCOL`, `…_COMPRESSION`, `…_TIMEOUT`,
    /// `…_CERTIFICATE`, … with the rules of `OTEL_EXPORTER_OTLP_*`.
    public var exporter = OTLPExporterConfiguration(endpoint: OTLPExporterConfiguration.defaultBaseEndpoint + "/v1/traces")
    /// `service.name` from `OTEL_SERVICE_NAME`, plus `EXPERIMENTAL_GEN_AI_OTEL_RESOURCE_ATTRIBUTES`.
    public var resource: [Attribute] = []
    /// `EXPERIMENTAL_GEN_AI_OTEL_TRACES_LAG`: seconds (0–30 days) a row waits before it is
    /// exported, default 120.
    public var lagSeconds: Int64 = 120
    /// `EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE`: rows per query (1–1,000,000), default 10,000.
    public var pageSize = 10_000
    /// `EXPERIMENTAL_GEN_AI_OTEL_TRACES_MAX_SPANS_PER_REQUEST` (1–100,000), default 2,000.
    public var maxSpansPerRequest = 2_000
    /// `EXPERIMENTAL_GEN_AI_OTEL_TRACES_MAX_REQUEST_BYTES` (1 KiB–64 MiB), default 4 MiB.
    public var maxRequestBytes = 4 << 20
    /// `EXPERIMENTAL_GEN_AI_OTEL_TRACES_DEPRECATED_ATTRIBUTES`: also emit `gen_ai.system`,
    /// `gen_ai.usage.prompt_tokens` and `gen_ai.usage.completion_tokens`. Default false.
    public var deprecatedAttributes = false
    /// The GenAI conventions of the spans (`OTEL_SEMCONV_STABILITY_OPT_IN`, read with the rest of
    /// ``BridgeConfiguration``).
    public var conventions: GenAIConventions = .v1_41_1
    /// `EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY`: the page query's template; default
    /// `queries/gen_ai_traces.sql` beside the pipeline file's `../queries/`.
    public var queryPath = "queries/gen_ai_traces.sql"
    /// The template's text, read when the configuration is (a missing file is a configuration
    /// error before anything runs).
    public var sql = ""

    public init() {}

    /// - Parameter configPath: the pipeline file (`BRIDGE_CONFIG`), whose `../queries/` holds the template.
    public init(environment env: [String: String], configPath: String) throws(BridgeError) {
        func value(_ name: String) -> String? {
            guard let v = env[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        switch value("EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED")?.lowercased() {
        case nil, "false", "0", "no": enabled = false
        case "true", "1", "yes": enabled = true
        case let other?:
            throw BridgeError(.configuration, "must be true or false, not '\(LogSafe.text(other, limit: 40))'", key: "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED")
        }
        guard enabled else { return }
        do {
            exporter = try OTLPExporterConfiguration(signal: .traces, environment: env, prefix: "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP")
            resource = try OTLPResource.attributes(environment: env, attributesVariable: "EXPERIMENTAL_GEN_AI_OTEL_RESOURCE_ATTRIBUTES")
                .map { Attribute($0.key, .string($0.value)) }
        } catch {
            throw BridgeError(.configuration, error.reason, key: error.variable)
        }
        func integer(_ name: String, _ range: ClosedRange<Int64>) throws(BridgeError) -> Int64? {
            guard let text = value(name) else { return nil }
            guard let n = Int64(text), range.contains(n) else {
                throw BridgeError(.configuration, "expected a whole number from \(range.lowerBound) to \(range.upperBound), not '\(LogSafe.text(text, limit: 64))'", key: name)
            }
            return n
        }
        if let n = try integer("EXPERIMENTAL_GEN_AI_OTEL_TRACES_LAG", 0...2_592_000) { lagSeconds = n }
        if let n = try integer("EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE", 1...1_000_000) { pageSize = Int(n) }
        if let n = try integer("EXPERIMENTAL_GEN_AI_OTEL_TRACES_MAX_SPANS_PER_REQUEST", 1...100_000) { maxSpansPerRequest = Int(n) }
        if let n = try integer("EXPERIMENTAL_GEN_AI_OTEL_TRACES_MAX_REQUEST_BYTES", 1_024...(64 << 20)) { maxRequestBytes = Int(n) }
        switch value("EXPERIMENTAL_GEN_AI_OTEL_TRACES_DEPRECATED_ATTRIBUTES")?.lowercased() {
        case nil, "false", "0", "no": deprecatedAttributes = false
        case "true", "1", "yes": deprecatedAttributes = true
        case let other?:
            throw BridgeError(.configuration, "must be true or false, not '\(LogSafe.text(other, limit: 40))'", key: "EXPERIMENTAL_GEN_AI_OTEL_TRACES_DEPRECATED_ATTRIBUTES")
        }
        queryPath = value("EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY")
            ?? (((configPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("../queries/gen_ai_traces.sql") as NSString).standardizingPath
        do { sql = try String(contentsOfFile: queryPath, encoding: .utf8) } catch {
            throw BridgeError(.template, "cannot read the query template (EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY): \(error.localizedDescription)",
                              pipeline: Self.pipeline, file: queryPath)
        }
    }
}
