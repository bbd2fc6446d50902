/// The table: every environment variable the bridge reads, with its default and what it accepts.
/// README.md's configuration table names the same variables (a test compares them). A variable
/// that is not here cannot be read (``EnvironmentValues`` looks every name up in this table).
///
/// libpq's own `PG*` variables are libpq's (the `Postgres` module hands them to it); `TERM` and
/// `COLUMNS` describe the terminal, not the bridge.
extension EnvironmentVariable {
    public static let all: [EnvironmentVariable] = [
        clickhouseURL, clickhouseUser, clickhousePassword, clickhouseDatabase, clickhouseMaxExecutionTime,
        clickhouseConnectTimeout, clickhouseCAFile, clickhouseCompression,
        checkpointDatabaseURL,
        otelPushEnabled, otelEndpoint,
    ] + otlpExporter(prefix: metricsExporterPrefix, signal: "METRICS") + [
        temporalityPreference, serviceName, resourceAttributes, semconvStabilityOptIn,
        bridgeConfig, bridgeStartAt, bridgeExportMaxElapsed, bridgeSelfTelemetry, bridgeMaxPointAge,
        bridgeMetadataAttributes, bridgeShutdownTimeout, bridgeHealthPort,
        genAITracesEnabled,
    ] + otlpExporter(prefix: tracesExporterPrefix, signal: "TRACES", aliases: gatewayExporterSpellings) + [
        genAIResourceAttributes, genAITracesLag, genAITracesPageSize, genAITracesMaxSpansPerRequest,
        genAITracesMaxRequestBytes, genAITracesDeprecatedAttributes, genAITracesQuery,
        logLevel, logFormat,
    ]

    /// The row of `name` (a documented name or an alias), if the table has one.
    public static func named(_ name: String) -> EnvironmentVariable? { byName[name] }

    private static let byName: [String: EnvironmentVariable] = {
        var map: [String: EnvironmentVariable] = [:]
        for v in all {
            for spelling in v.spellings {
                precondition(map[spelling] == nil, "\(spelling) is twice in EnvironmentVariable.all")
                map[spelling] = v
            }
        }
        return map
    }()

    // MARK: ClickHouse

    public static let clickhouseURL = Self("CLICKHOUSE_URL", .url, default: "http://localhost:8123")
    public static let clickhouseUser = Self("CLICKHOUSE_USER", .credential, default: "default")
    public static let clickhousePassword = Self("CLICKHOUSE_PASSWORD", .credential, default: "")
    public static let clickhouseDatabase = Self("CLICKHOUSE_DATABASE", .credential, default: "default")
    /// ClickHouse reads 0 as "no limit": at least 1 s.
    public static let clickhouseMaxExecutionTime = Self("CLICKHOUSE_MAX_EXECUTION_TIME", .seconds(1...86_400), default: "300")
    /// libcurl reads 0 as "no limit": at least 1 ms.
    public static let clickhouseConnectTimeout = Self("CLICKHOUSE_CONNECT_TIMEOUT", .seconds(0.001...3_600), default: "10")
    public static let clickhouseCAFile = Self("CLICKHOUSE_CA_FILE", .file)
    /// On: every encoding libcurl decodes is offered (ClickHouse answers zstd); `gzip` or `zstd`:
    /// on, offering that one alone.
    public static let clickhouseCompression = Self("CLICKHOUSE_COMPRESSION", .boolean(on: ["gzip", "zstd"], off: ["none"]), default: "true")

    // MARK: The checkpoint store

    public static let checkpointDatabaseURL = Self("CHECKPOINT_DATABASE_URL", .connectionString)

    // MARK: OTLP metrics

    public static let otelPushEnabled = Self("OTEL_PUSH_ENABLED", .boolean(), default: "false")
    /// The gateway's base URL of the metrics endpoint.
    public static let otelEndpoint = Self("OTEL_ENDPOINT", .url)
    public static let metricsExporterPrefix = "OTEL_EXPORTER_OTLP"
    public static let temporalityPreference = Self(
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", .choice(["cumulative", "delta", "lowmemory"]), default: "cumulative")
    public static let serviceName = Self("OTEL_SERVICE_NAME", .text, default: "otel-bridge")
    public static let resourceAttributes = Self("OTEL_RESOURCE_ATTRIBUTES", .keyValues)
    /// `gen_ai_latest_experimental` is the one value the bridge reads; others are ignored, as the
    /// OTel specification has it.
    public static let semconvStabilityOptIn = Self("OTEL_SEMCONV_STABILITY_OPT_IN", .list)

    /// The exporter variables of one signal under `prefix` (`OTEL_EXPORTER_OTLP`,
    /// `EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP`): each setting's general name and the
    /// signal-specific one (`…_METRICS_…`), which wins.
    static func otlpExporter(prefix: String, signal: String, aliases: [String: String] = [:]) -> [EnvironmentVariable] {
        let settings: [(String, Kind, String)] = [
            ("ENDPOINT", .url, "http://localhost:4318"),
            ("HEADERS", .headers, "—"),
            ("PROTOCOL", .choice(["http/protobuf", "http/json"], refused: [
                "grpc": "grpc is not supported; otel-bridge exports over OTLP/HTTP (use http/protobuf or http/json)",
            ]), "http/protobuf"),
            ("COMPRESSION", .choice(["gzip", "none"]), "none"),
            ("TIMEOUT", .milliseconds(1...3_600_000), "10000"),
            ("CERTIFICATE", .file, "—"),
            ("CLIENT_CERTIFICATE", .file, "—"),
            ("CLIENT_KEY", .file, "—"),
        ]
        return settings.flatMap { suffix, kind, defaultText in
            let general = "\(prefix)_\(suffix)"
            return [
                Self(general, kind, default: defaultText, aliases: aliases[general].map { [$0] } ?? [],
                     aliasOrigin: aliases[general] == nil ? "" : "the gateway Helm chart's spelling"),
                Self("\(prefix)_\(signal)_\(suffix)", kind),
            ]
        }
    }

    // MARK: The bridge

    public static let bridgeConfig = Self("BRIDGE_CONFIG", .path, default: "config/bridge.yaml")
    public static let bridgeStartAt = Self("BRIDGE_START_AT", .instant, default: "now − 1 h")
    /// Up to a day: a batch retried longer than that holds the pipeline's lock for as long.
    public static let bridgeExportMaxElapsed = Self("BRIDGE_EXPORT_MAX_ELAPSED", .seconds(0...86_400), default: "300")
    public static let bridgeSelfTelemetry = Self("BRIDGE_SELF_TELEMETRY", .boolean(), default: "true")
    /// Buckets older than this when a batch is cut are not sent (off by default).
    public static let bridgeMaxPointAge = Self("BRIDGE_MAX_POINT_AGE", .duration(1...31_622_400))
    /// Metadata keys exported as `portkey.metadata.<key>` by every pipeline (empty by default).
    public static let bridgeMetadataAttributes = Self("BRIDGE_METADATA_ATTRIBUTES", .list)
    public static let bridgeShutdownTimeout = Self("BRIDGE_SHUTDOWN_TIMEOUT", .seconds(1...3_600), default: "20")
    public static let bridgeHealthPort = Self("BRIDGE_HEALTH_PORT", .integer(0...65_535), default: "8080")

    // MARK: GenAI traces

    public static let tracesExporterPrefix = "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP"
    /// The gateway's Helm chart documents `EXPERIMENTAL_GEN_AI_OTEL_OTLP_ENDPOINT` and `…_HEADERS`.
    static let gatewayExporterSpellings = [
        "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": "EXPERIMENTAL_GEN_AI_OTEL_OTLP_ENDPOINT",
        "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_HEADERS": "EXPERIMENTAL_GEN_AI_OTEL_OTLP_HEADERS",
    ]
    /// The gateway's code reads `EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED`.
    public static let genAITracesEnabled = Self(
        "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED", .boolean(), default: "false",
        aliases: ["EXPERIMENTAL_GEN_AI_OTEL_PUSH_ENABLED"], aliasOrigin: "the gateway code's spelling")
    public static let genAIResourceAttributes = Self("EXPERIMENTAL_GEN_AI_OTEL_RESOURCE_ATTRIBUTES", .keyValues)
    public static let genAITracesLag = Self("EXPERIMENTAL_GEN_AI_OTEL_TRACES_LAG", .integer(0...2_592_000), default: "120")
    public static let genAITracesPageSize = Self("EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE", .integer(1...1_000_000), default: "25000")
    public static let genAITracesMaxSpansPerRequest = Self("EXPERIMENTAL_GEN_AI_OTEL_TRACES_MAX_SPANS_PER_REQUEST", .integer(1...100_000), default: "2000")
    public static let genAITracesMaxRequestBytes = Self("EXPERIMENTAL_GEN_AI_OTEL_TRACES_MAX_REQUEST_BYTES", .integer(1_024...(64 << 20)), default: "4194304")
    public static let genAITracesDeprecatedAttributes = Self("EXPERIMENTAL_GEN_AI_OTEL_TRACES_DEPRECATED_ATTRIBUTES", .boolean(), default: "false")
    public static let genAITracesQuery = Self("EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY", .path, default: "queries/gen_ai_traces.sql")

    // MARK: Output

    public static let logLevel = Self("LOG_LEVEL", .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]), default: "info")
    public static let logFormat = Self("LOG_FORMAT", .choice(["text", "json"]), default: "text")
}
