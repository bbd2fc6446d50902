import Observability
import PipelineConfig
import Rollup
import CurlHTTP
import ClickHouse
import Environment
import Foundation
import Logging
import OTLP
import PipelineConfig
import Postgres
import UTCTime

/// Everything the bridge reads from the environment, read once, from an injected dictionary,
/// through the table of ``EnvironmentVariable/all``: the one value that `run`, `serve`,
/// `validate` and `checkpoints` all take.
public struct BridgeConfiguration: Sendable {
    public static let version = BridgeVersion.current

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
    /// `serve`'s own settings (`BRIDGE_SHUTDOWN_TIMEOUT`, `BRIDGE_HEALTH_PORT`).
    public var serve: ServeConfiguration
    /// `LOG_FORMAT`: `text` (default) or `json`.
    public var logFormat: LogFormat
    /// `LOG_LEVEL`: `trace` … `critical`, default `info`.
    public var logLevel: Logger.Level
    /// `BRIDGE_MAX_POINT_AGE` (whole seconds): buckets older than this when a batch is cut are not
    /// sent. Default nil: off.
    public var maxPointAgeSeconds: Int64?
    /// `BRIDGE_METADATA_ATTRIBUTES` (`team,feature`): the request metadata keys every pipeline and
    /// the spans export as `portkey.metadata.<key>`, instead of `metadata_attributes` in the
    /// pipeline file. Default: not set (the file decides; its default is none).
    public var metadataAttributes: [String]?
    /// `OTEL_SEMCONV_STABILITY_OPT_IN`, as listed; see ``genAILatestExperimental``.
    public var semconvStabilityOptIn: [String]
    /// The spelling each variable with several was read from, when it is set
    /// (`EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED` → `EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED`).
    public var spellings: [EnvironmentVariable: String]
    /// `OTEL_SEMCONV_STABILITY_OPT_IN` (a comma-separated list): with `gen_ai_latest_experimental`
    /// the GenAI metrics and spans follow semantic-conventions-genai; default v1.41.1
    /// (`docs/semconv.md`). Other values in the list concern other conventions and are ignored.
    public var genAIConventions: GenAIConventions

    /// `OTEL_SEMCONV_STABILITY_OPT_IN` contains `gen_ai_latest_experimental`.
    public var genAILatestExperimental: Bool { genAIConventions == .latestExperimental }

    public init(environment: [String: String]) throws(BridgeError) {
        try self.init(environment: EnvironmentValues(environment))
    }

    public init(environment env: EnvironmentValues) throws(BridgeError) {
        do throws(EnvironmentError) {
            clickhouse = try ClickHouseConfiguration(reading: env)
            checkpointDatabaseURL = try env.text(.checkpointDatabaseURL)
            pushEnabled = try env.bool(.otelPushEnabled) ?? false
            selfTelemetry = try env.bool(.bridgeSelfTelemetry) ?? true
            switch try env.choice(.temporalityPreference) {
            case "delta", "lowmemory": temporality = .delta
            default: temporality = .cumulative
            }
            configPath = try env.text(.bridgeConfig) ?? "config/bridge.yaml"
            startAt = try env.instant(.bridgeStartAt)
            retryPolicy = RetryPolicy()
            if let d = try env.seconds(.bridgeExportMaxElapsed) { retryPolicy.maxElapsed = d }
            serve = ServeConfiguration()
            if let d = try env.seconds(.bridgeShutdownTimeout) { serve.shutdownTimeout = d }
            if let p = try env.integer(.bridgeHealthPort) { serve.healthPort = Int(p) }
            (logFormat, logLevel) = try LogFormat.settings(env)
            maxPointAgeSeconds = try env.duration(.bridgeMaxPointAge)
            // Entries as written (an empty one is an error MetadataAttributes names, not dropped).
            metadataAttributes = try env.text(.bridgeMetadataAttributes).map {
                $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            }
            semconvStabilityOptIn = try env.list(.semconvStabilityOptIn)
            genAIConventions = semconvStabilityOptIn.contains(GenAIConventions.latestExperimental.rawValue) ? .latestExperimental : .v1_41_1
            // Every setting with several spellings is looked up now, whether or not it is used
            // (a traces setting with the traces pipeline off too): two that disagree exit 2.
            spellings = [:]
            for v in EnvironmentVariable.all where !v.aliases.isEmpty {
                if let found = try env.lookup(v) { spellings[v] = found.spelling }
            }
        } catch {
            throw BridgeError(.configuration, error.reason, key: error.variable)
        }
        if let conninfo = checkpointDatabaseURL {
            do {
                try PostgresConnection.checkConnectionString(conninfo)
            } catch {
                throw BridgeError(.configuration, error.message, key: "CHECKPOINT_DATABASE_URL")
            }
        }
        do {
            metricsExporter = try OTLPExporterConfiguration(signal: .metrics, environment: env)
            resource = try OTLPResource.attributes(environment: env).map { Attribute($0.key, .string($0.value)) }
        } catch {
            throw BridgeError(.configuration, error.reason, key: error.variable)
        }
        genAITraces = try GenAITraceConfiguration(environment: env, configPath: configPath)
        genAITraces.conventions = genAIConventions
        if let keys = metadataAttributes {
            if let problem = MetadataAttributes.problem(keys) {
                throw BridgeError(.configuration, "expected a comma-separated list of metadata keys such as team,feature: \(problem)", key: EnvironmentVariable.bridgeMetadataAttributes.name)
            }
            genAITraces.metadataAttributes = keys
        }
    }
}

/// What `serve` reads from the environment beside the rest of ``BridgeConfiguration`` (its `serve`).
public struct ServeConfiguration: Sendable, Equatable {
    /// `BRIDGE_SHUTDOWN_TIMEOUT` (seconds, default 20): after SIGTERM or SIGINT, how long an
    /// in-flight push may take to finish before it is abandoned (its watermark unmoved).
    public var shutdownTimeout: Duration = .seconds(20)
    /// `BRIDGE_HEALTH_PORT` (default 8080; 0 turns the health endpoint off).
    public var healthPort: Int = 8080

    public init() {}
}
