import CurlHTTP
import Environment
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

    /// `EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED` (or the gateway code's spelling,
    /// `EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED`), default false.
    public var enabled = false
    /// `EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT` (base URL; spans go to `<base>/v1/traces`),
    /// `…_TRACES_ENDPOINT` (as is), `…_HEADERS`, `…_PROTOCOL`, `…_COMPRESSION`, `…_TIMEOUT`,
    /// `…_CERTIFICATE`, … with the rules of `OTEL_EXPORTER_OTLP_*`. The gateway's Helm chart's
    /// `EXPERIMENTAL_GEN_AI_OTEL_OTLP_ENDPOINT` and `…_OTLP_HEADERS` mean the same.
    public var exporter = OTLPExporterConfiguration(endpoint: OTLPExporterConfiguration.defaultBaseEndpoint + "/v1/traces")
    /// `service.name` from `OTEL_SERVICE_NAME`, plus `EXPERIMENTAL_GEN_AI_OTEL_RESOURCE_ATTRIBUTES`.
    public var resource: [Attribute] = []
    /// `EXPERIMENTAL_GEN_AI_OTEL_TRACES_LAG`: seconds (0–30 days) a row waits before it is
    /// exported, default 120.
    public var lagSeconds: Int64 = 120
    /// `EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE`: rows per query (1–1,000,000), default 10,000.
    public var pageSize = 25_000
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
    /// Request metadata keys the spans carry as `portkey.metadata.<key>`: `BRIDGE_METADATA_ATTRIBUTES`,
    /// else `metadata_attributes` under the pipeline file's `defaults:`; default none. The
    /// template's `{metadata_keys:Array(String)}`.
    public var metadataAttributes: [String] = []
    /// The template's text, read when the configuration is (a missing file is a configuration
    /// error before anything runs).
    public var sql = ""

    public init() {}

    /// - Parameter configPath: the pipeline file (`BRIDGE_CONFIG`), whose `../queries/` holds the template.
    public init(environment env: EnvironmentValues, configPath: String) throws(BridgeError) {
        do throws(EnvironmentError) {
            enabled = try env.bool(.genAITracesEnabled) ?? false
            guard enabled else { return }
            if let n = try env.integer(.genAITracesLag) { lagSeconds = n }
            if let n = try env.integer(.genAITracesPageSize) { pageSize = Int(n) }
            if let n = try env.integer(.genAITracesMaxSpansPerRequest) { maxSpansPerRequest = Int(n) }
            if let n = try env.integer(.genAITracesMaxRequestBytes) { maxRequestBytes = Int(n) }
            deprecatedAttributes = try env.bool(.genAITracesDeprecatedAttributes) ?? false
            queryPath = try env.text(.genAITracesQuery)
                ?? (((configPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent("../queries/gen_ai_traces.sql") as NSString).standardizingPath
        } catch {
            throw BridgeError(.configuration, error.reason, key: error.variable)
        }
        do {
            exporter = try OTLPExporterConfiguration(signal: .traces, environment: env, prefix: EnvironmentVariable.tracesExporterPrefix)
            resource = try OTLPResource.attributes(environment: env, attributesVariable: .genAIResourceAttributes)
                .map { Attribute($0.key, .string($0.value)) }
        } catch {
            throw BridgeError(.configuration, error.reason, key: error.variable)
        }
        do { sql = try String(contentsOfFile: queryPath, encoding: .utf8) } catch {
            throw BridgeError(.template, "cannot read the query template (EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY): \(error.localizedDescription)",
                              pipeline: Self.pipeline, file: queryPath)
        }
    }
}
