import Rollup
import CurlHTTP
import ClickHouse
import Foundation
import OTLP
import PipelineConfig
import Postgres
import UTCTime

/// Everything the bridge reads from the environment (read once, from an injected dictionary).
public struct BridgeConfiguration: Sendable {
    public static let version = "0.1.0"

    /// `CLICKHOUSE_URL`, `CLICKHOUSE_USER`, `CLICKHOUSE_PASSWORD`, `CLICKHOUSE_DATABASE`, …
    public var clickhouse: ClickHouseConfiguration
    /// `CHECKPOINT_DATABASE_URL`: a libpq URI or conninfo; unset means libpq's `PG*` defaults.
    public var checkpointDatabaseURL: String?
    /// `OTEL_PUSH_ENABLED`: metrics are exported only when it is `true`. Default false.
    public var pushEnabled: Bool
    /// The OTLP/HTTP metrics exporter (`OTEL_ENDPOINT`, `OTEL_EXPORTER_OTLP_*`).
    public var metricsExporter: OTLPExporterConfiguration
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`: `cumulative` (default) or `delta`
    /// (`lowmemory` means delta for the monotonic sums and histograms the bridge exports).
    public var temporality: AggregationTemporality
    /// `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`.
    public var resource: [Attribute]
    /// `BRIDGE_CONFIG`, default `config/bridge.yaml`.
    public var configPath: String
    /// `BRIDGE_START_AT` (ISO 8601 UTC): first watermark of a pipeline without checkpoint.
    /// Default: one hour before now.
    public var startAt: Int64?
    /// Retries of one export: `BRIDGE_EXPORT_MAX_ELAPSED` seconds in all (default 300).
    public var retryPolicy: RetryPolicy
    /// `BRIDGE_SELF_TELEMETRY`: report the bridge's own health (``SelfTelemetry``) to the metrics
    /// endpoint after each run. Default true.
    public var selfTelemetry: Bool
    /// The experimental GenAI traces pipeline (`EXPERIMENTAL_GEN_AI_OTEL_*`).
    public var genAITraces: GenAITraceConfiguration
    /// `OTEL_SEMCONV_STABILITY_OPT_IN` (a comma-separated list): with `gen_ai_latest_experimental`
    /// the GenAI metrics and spans follow semantic-conventions-genai; default v1.41.1
    /// (`docs/semconv.md`). Other values in the list concern other conventions and are ignored.
    public var genAIConventions: GenAIConventions

    public init(environment env: [String: String]) throws(BridgeError) {
        func value(_ name: String) -> String? {
            guard let v = env[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        do {
            clickhouse = try ClickHouseConfiguration(environment: env)
        } catch {
            throw BridgeError(.configuration, error.message, key: "CLICKHOUSE_*")
        }
        checkpointDatabaseURL = value("CHECKPOINT_DATABASE_URL")
        if let conninfo = checkpointDatabaseURL {
            do {
                try PostgresConnection.checkConnectionString(conninfo)
            } catch {
                throw BridgeError(.configuration, error.message, key: "CHECKPOINT_DATABASE_URL")
            }
        }
        switch value("OTEL_PUSH_ENABLED")?.lowercased() {
        case nil, "false", "0", "no": pushEnabled = false
        case "true", "1", "yes": pushEnabled = true
        case let other?:
            throw BridgeError(.configuration, "OTEL_PUSH_ENABLED must be true or false, not '\(other)'", key: "OTEL_PUSH_ENABLED")
        }
        switch value("BRIDGE_SELF_TELEMETRY")?.lowercased() {
        case nil, "true", "1", "yes": selfTelemetry = true
        case "false", "0", "no": selfTelemetry = false
        case let other?:
            throw BridgeError(.configuration, "BRIDGE_SELF_TELEMETRY must be true or false, not '\(LogSafe.text(other, limit: 64))'", key: "BRIDGE_SELF_TELEMETRY")
        }
        do {
            metricsExporter = try OTLPExporterConfiguration(signal: .metrics, environment: env)
            resource = try OTLPResource.attributes(environment: env).map { Attribute($0.key, .string($0.value)) }
        } catch {
            throw BridgeError(.configuration, error.reason, key: error.variable)
        }
        switch value("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")?.lowercased() {
        case nil, "cumulative": temporality = .cumulative
        case "delta", "lowmemory": temporality = .delta
        case let other?:
            throw BridgeError(.configuration, "must be cumulative, delta or lowmemory, not '\(other)'", key: "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
        }
        configPath = value("BRIDGE_CONFIG") ?? "config/bridge.yaml"
        let optIn = (value("OTEL_SEMCONV_STABILITY_OPT_IN") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        genAIConventions = optIn.contains(GenAIConventions.latestExperimental.rawValue) ? .latestExperimental : .v1_41_1
        genAITraces = try GenAITraceConfiguration(environment: env, configPath: configPath)
        genAITraces.conventions = genAIConventions
        if let text = value("BRIDGE_START_AT") {
            guard let t = UTCInstant(iso8601: text)?.unixNanoseconds else {
                throw BridgeError(.configuration, "expected an ISO 8601 UTC time such as 2026-11-01T00:00:00Z between the years \(UTCInstant.representableYears.lowerBound) and \(UTCInstant.representableYears.upperBound), not '\(LogSafe.text(text, limit: 64))'", key: "BRIDGE_START_AT")
            }
            startAt = t
        }
        retryPolicy = RetryPolicy()
        if let text = value("BRIDGE_EXPORT_MAX_ELAPSED") {
            // Up to a day: a batch retried longer than that holds the pipeline's lock for as long.
            guard let s = Double(text), s.isFinite, (0...86_400).contains(s) else {
                throw BridgeError(.configuration, "expected a number of seconds from 0 to 86400, not '\(LogSafe.text(text, limit: 64))'", key: "BRIDGE_EXPORT_MAX_ELAPSED")
            }
            retryPolicy.maxElapsed = Duration(seconds: s, roundingMilliseconds: .towardZero) ?? .zero
        }
    }
}
