import Observability
import Bridge
import Rollup
import Checkpoints
import ClickHouse
import CurlHTTP
import Environment
import Foundation
import Logging
import OTLP
import PipelineConfig
import Postgres
import UTCTime

/// The outcome of one check of `otel-bridge validate`: one line for the operator.
public struct ValidationCheck: Sendable, Equatable {
    public enum Status: String, Sendable {
        case ok, failed, skipped

        /// The line's first word, padded so the check names line up.
        public var tag: String {
            switch self {
            case .ok: "ok  "
            case .failed: "FAIL"
            case .skipped: "skip"
            }
        }
    }

    public var status: Status
    /// What was checked: `environment`, `pipeline file`, `checkpoint store`, `clickhouse`,
    /// `pipeline NAME template`, `pipeline NAME mapping`, `pipeline NAME export` (stuck on a
    /// refused request), `otlp metrics`, `otlp traces`.
    public var name: String
    /// What was found; for a failure, what is wrong, where, and what to do. Free of secrets.
    public var detail: String
    /// The exit code a failure calls for: 2 for configuration, template and mapping, 1 for the
    /// rest (a service unreachable or refusing). 0 for `ok` and `skipped`.
    public var exitCode: Int32

    public init(_ status: Status, _ name: String, _ detail: String, exitCode: Int32 = 0) {
        self.status = status
        self.name = name
        self.detail = detail
        self.exitCode = status == .failed ? max(exitCode, 1) : 0
    }

    /// `ok   clickhouse: …`, `FAIL otlp metrics: …`, `skip pipeline requests mapping: …`.
    public var line: String { "\(status.tag) \(name): \(detail)" }
}

/// Every check `otel-bridge validate` made, in order.
public struct ValidationReport: Sendable {
    public var checks: [ValidationCheck] = []

    public var passed: Bool { !checks.contains { $0.status == .failed } }

    /// 0 when every check passed; 2 when a configuration, template or mapping check failed;
    /// otherwise 1.
    public var exitCode: Int32 { checks.map(\.exitCode).max() ?? 0 }
}

extension Bridge {
    /// Checks everything an operator can get wrong before the first run, exporting nothing and
    /// moving no watermark, and reports each check to `output` as soon as it is decided:
    ///
    /// 1. `environment`: every variable the bridge reads (`BridgeConfiguration`, `BRIDGE_START_AT`).
    /// 2. `pipeline file`: the YAML and the query templates it names.
    /// 3. `checkpoint store`: connect, migrate, and the privileges a pass needs.
    /// 4. `clickhouse`: `/ping` and `SELECT 1` answered as ClickHouse.
    /// 5. Per pipeline, `template`: its query against ClickHouse with the parameters of the window
    ///    its next pass would query first (the first closed bucket after its watermark; the last
    ///    closed bucket without checkpoint); then `mapping`: the result's columns and types
    ///    against its metrics, and the rows of that window against the checks a pass makes.
    /// 5b. `pipeline NAME export`, only for a pipeline stuck on a request its receiver refuses:
    ///    the receiver's message, since when, and the remedy (``Wedge``).
    /// 6. `otlp metrics`: an empty export, acknowledged with an OTLP response (when
    ///    `OTEL_PUSH_ENABLED=true`).
    /// 7. `otlp traces` (with `EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED=true`): an empty
    ///    `ExportTraceServiceRequest` to the traces endpoint, acknowledged with an OTLP response.
    ///
    /// Every check runs; one that needs a failed one is reported as skipped, with the reason.
    /// Blocks: call it through ``Bridge/offload(_:)``.
    public static func validate(
        configuration: Result<BridgeConfiguration, BridgeError>, redactor: Redactor, logger: Logger,
        now: @escaping @Sendable () -> Int64 = Bridge.systemNow, output: (ValidationCheck) -> Void
    ) -> ValidationReport {
        withoutActuallyEscaping(output) { output in
            var validation = Validation(redact: redactor, output: output)
            validation.run(configuration: configuration, logger: logger, now: now)
            return validation.report
        }
    }

    /// ``validate(configuration:redactor:logger:now:output:)`` of `environment`, read once.
    public static func validate(
        environment: [String: String], logger: Logger, now: @escaping @Sendable () -> Int64 = Bridge.systemNow,
        output: (ValidationCheck) -> Void
    ) -> ValidationReport {
        validate(configuration: Result { () throws(BridgeError) in try BridgeConfiguration(environment: environment) },
                 redactor: Redactor(environment: environment), logger: logger, now: now, output: output)
    }
}

/// The checks of ``Bridge/validate(configuration:redactor:logger:now:output:)``, in order.
struct Validation {
    let redact: Redactor
    let output: (ValidationCheck) -> Void
    var report = ValidationReport()

    init(redact: Redactor, output: @escaping (ValidationCheck) -> Void) {
        self.redact = redact
        self.output = output
    }

    mutating func record(_ status: ValidationCheck.Status, _ name: String, _ detail: String, exitCode: Int32 = 1) {
        let check = ValidationCheck(status, name, redact(detail), exitCode: exitCode)
        report.checks.append(check)
        output(check)
    }

    mutating func run(configuration parsed: Result<BridgeConfiguration, BridgeError>, logger: Logger, now: @escaping @Sendable () -> Int64) {
        // 1. The environment: without it nothing else can be reached.
        let configuration: BridgeConfiguration
        do throws(BridgeError) {
            configuration = try parsed.get()
            if let start = configuration.startAt, start > now() {
                throw BridgeError(.configuration, "\(UTCInstant(unixNanoseconds: start).iso8601) is in the future: a pipeline's first watermark must be a time whose buckets can close", key: "BRIDGE_START_AT")
            }
        } catch {
            record(.failed, "environment", "\(error.description); fix that variable and run validate again", exitCode: error.code.exitCode)
            for name in ["pipeline file", "checkpoint store", "clickhouse", "otlp metrics"] {
                record(.skipped, name, "needs a valid environment (see the environment line)")
            }
            return
        }
        record(.ok, "environment", "ClickHouse \(HTTPError.redactedURL(configuration.clickhouse.url)) database \(configuration.clickhouse.database), "
            + "OTLP metrics \(HTTPError.redactedURL(configuration.metricsExporter.endpoint)) (\(configuration.metricsExporter.wireProtocol == .httpJSON ? "http/json" : "http/protobuf"), \(configuration.temporality == .cumulative ? "cumulative" : "delta")); "
            + "switches " + configuration.switches.map { "\($0.variable.name)=\($0.on)" }.joined(separator: " ")
            + configuration.spellings.sorted { $0.key.name < $1.key.name }.map { variable, spelling in
                spelling == variable.name
                    ? "; read \(spelling)"
                    : "; read \(spelling) (\(variable.aliasOrigin)) for \(variable.name)"
            }.joined())

        // 2. The pipeline file and its templates.
        var pipelines: [PipelineConfiguration]?
        do {
            let loaded = try Bridge.loadPipelines(path: configuration.configPath, conventions: configuration.genAIConventions)
            pipelines = loaded
            record(.ok, "pipeline file", "\(configuration.configPath): \(loaded.count) pipeline(s): "
                + loaded.map { $0.name + ($0.enabled ? "" : " (disabled)") }.joined(separator: ", ")
                + "; GenAI semantic conventions \(configuration.genAIConventions.rawValue)")
        } catch {
            record(.failed, "pipeline file", "\(error.description); fix the file (BRIDGE_CONFIG or --config) and run validate again", exitCode: error.code.exitCode)
        }
        let bridge = Bridge(configuration: configuration, pipelines: pipelines ?? [], logger: logger, redactor: redact, now: now)

        // 3. The checkpoint store.
        let store = checkStore(bridge)

        // 4. ClickHouse.
        let clickhouse = ClickHouseClient(configuration: configuration.clickhouse, logger: logger)
        var clickhouseUp = false
        do {
            try clickhouse.ping()
            clickhouseUp = true
            record(.ok, "clickhouse", "\(HTTPError.redactedURL(configuration.clickhouse.url)) answers /ping and SELECT 1 as ClickHouse")
        } catch {
            let what = error.code == .authentication
                ? "check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD"
                : "check CLICKHOUSE_URL (a ClickHouse HTTP interface, usually port 8123 or 8443) and that the server is up"
            record(.failed, "clickhouse", "\(HTTPError.redactedURL(configuration.clickhouse.url)): \(error.description); \(what)")
        }

        // 5. Each pipeline's template and mapping.
        if let pipelines {
            for pipeline in pipelines {
                checkPipeline(pipeline, bridge: bridge, clickhouse: clickhouseUp ? clickhouse : nil, store: store)
            }
        } else {
            record(.skipped, "pipelines", "templates and mappings need a valid pipeline file (see the pipeline file line)")
        }
        // A pipeline stuck on a request its receiver refuses: every pass fails the same way.
        if let store, let statuses = try? store.statuses() {
            for wedge in statuses.compactMap(Wedge.init) where pipelines?.contains(where: { $0.name == wedge.pipeline }) ?? true {
                record(.failed, "pipeline \(wedge.pipeline) export", wedge.description(now: now()))
            }
        }
        store?.connection.close()

        // 6. and 7. The OTLP endpoints.
        checkMetricsEndpoint(configuration, logger: logger)
        if configuration.genAITraces.enabled {
            checkTracesEndpoint(configuration, logger: logger)
        }
    }

    /// Connects, migrates and checks the run-time privileges; the open store, or `nil`.
    mutating func checkStore(_ bridge: Bridge) -> CheckpointStore? {
        let store: CheckpointStore
        do {
            store = try bridge.openStore()
        } catch {
            record(.failed, "checkpoint store", "\(error.message); check CHECKPOINT_DATABASE_URL (or the PG* variables), that the server is up and the role may connect")
            return nil
        }
        do {
            let row = try store.connection.query("""
                SELECT current_user::text AS role, current_database()::text AS db,
                       (SELECT max(version) FROM otel_bridge.schema_migrations)::bigint AS version,
                       coalesce((SELECT string_agg(c.relname || ' (' || array_to_string(ARRAY(
                                    SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p
                                    WHERE NOT has_table_privilege(c.oid, p)), ', ') || ')', ', ' ORDER BY c.relname)
                                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                 WHERE n.nspname = 'otel_bridge' AND c.relkind = 'r' AND c.relname <> 'schema_migrations'
                                   AND CASE WHEN c.relkind = 'r' THEN NOT (has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT')
                                            AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE')) ELSE false END), '') AS missing,
                       coalesce((SELECT string_agg(c.relname, ', ' ORDER BY c.relname)
                                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                 WHERE n.nspname = 'otel_bridge' AND c.relkind = 'S'
                                   AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(c.oid, 'USAGE') ELSE false END), '') AS missing_sequences
                """).single()
            let role = try row.string("role"), db = try row.string("db"), version = try row.optionalString("version") ?? "?"
            let missing = try row.string("missing"), missingSequences = try row.string("missing_sequences")
            guard missing.isEmpty && missingSequences.isEmpty else {
                let what = [missing.isEmpty ? nil : "tables " + missing, missingSequences.isEmpty ? nil : "sequences " + missingSequences + " (USAGE)"]
                    .compactMap { $0 }.joined(separator: "; ")
                record(.failed, "checkpoint store", "role \(role) in database \(db) lacks privileges a pass needs on otel_bridge: \(what); "
                    + "grant them (docs/checkpoints.md, Privileges)")
                return store
            }
            record(.ok, "checkpoint store", "database \(db) as role \(role): schema otel_bridge at migration \(version), privileges for a pass granted")
        } catch {
            record(.failed, "checkpoint store", "connected and migrated, but reading the schema failed: \(error); check the role's privileges (docs/checkpoints.md, Privileges)")
        }
        return store
    }

    /// The template against ClickHouse with its next window's parameters, then its mapping.
    mutating func checkPipeline(_ pipeline: PipelineConfiguration, bridge: Bridge, clickhouse: ClickHouseClient?, store: CheckpointStore?) {
        let template = "pipeline \(pipeline.name) template", mapping = "pipeline \(pipeline.name) mapping"
        guard let clickhouse else {
            record(.skipped, template, "needs ClickHouse (see the clickhouse line)")
            record(.skipped, mapping, "needs the template's result (see the clickhouse line)")
            return
        }
        let planner = WindowPlanner(stepSeconds: pipeline.stepSeconds, lagSeconds: pipeline.lagSeconds, maxBucketsPerQuery: 1)
        let now = bridge.now()
        let closedUntil = planner.closedUntil(now: now)
        let lastClosed = TimeWindow(start: closedUntil - planner.step, end: closedUntil)
        var window = lastClosed, origin = "the last closed bucket (no checkpoint yet)"
        if let store {
            do {
                if let checkpoint = try store.checkpoint(pipeline: pipeline.name) {
                    let watermark = checkpoint.watermark.unixNanoseconds
                    if !planner.isAligned(watermark) {
                        record(.failed, "pipeline \(pipeline.name) checkpoint", "the watermark \(UTCInstant(unixNanoseconds: watermark).iso8601) is not on a \(pipeline.stepSeconds) s bucket boundary (was the step changed?): run would fail; rewind it to a boundary: otel-bridge checkpoints rewind \(pipeline.name) --to TIME",
                               exitCode: 2)
                        origin = "the last closed bucket (the watermark is not on a boundary)"
                    } else if let first = planner.chunks(watermark: watermark, now: now).first {
                        window = first
                        origin = "the first closed bucket after the watermark"
                    } else {
                        origin = "the last closed bucket (the watermark is up to date)"
                    }
                }
            } catch {
                origin = "the last closed bucket (the checkpoint could not be read)"
            }
        } else {
            origin = "the last closed bucket (no checkpoint store)"
        }
        let parameters = WindowQuery.parameters(for: pipeline, window: window)
        let shownParameters = parameters.filter { ["window_start", "window_end", "step_seconds"].contains($0.name) }
            .map { "\($0.name)=\($0.value.encoded)" }.joined(separator: " ")

        let stream: ClickHouseRowStream
        do {
            stream = try clickhouse.query(WindowQuery.sql(for: pipeline), parameters: parameters)
        } catch {
            // What the query's text decides (a ClickHouse exception, a FORMAT clause, a type the
            // decoder refuses) is the template's fault; a connection, login or overload is not.
            let isTemplate = !error.isTransient && ![.transport, .authentication, .configuration].contains(error.code)
            let what = isTemplate
                ? "fix the query in \(pipeline.queryFile) (it gets {window_start}, {window_end}, {step_seconds} and its parameters: as ClickHouse query parameters; ClickHouse's line numbers count one line the bridge wraps around the template)"
                : "ClickHouse did not answer the query: check that it is up and CLICKHOUSE_URL"
            record(.failed, template, "\(pipeline.queryFile) failed for \(window) (\(shownParameters)): \(error.description); \(what)",
                   exitCode: isTemplate ? 2 : 1)
            record(.skipped, mapping, "needs the template's result (see the template line)")
            return
        }
        defer { stream.close() }
        let binding: ResultBinding
        do {
            binding = try ResultBinding(pipeline: pipeline, columns: stream.columns)
        } catch {
            record(.ok, template, "\(pipeline.queryFile) runs for \(window), \(origin)")
            record(.failed, mapping, "\(error.description); make the query return what config maps (or change the mapping in \(bridge.configuration.configPath))",
                   exitCode: error.code.exitCode)
            return
        }
        // The window's rows, through the checks a pass makes on each.
        var rows = 0
        var row: [ClickHouseValue] = []
        do {
            while try stream.next(into: &row) {
                rows += 1
                do {
                    _ = try binding.bucket(row, rowNumber: rows, window: window, planner: planner)
                    for metric in binding.metrics { _ = try binding.observation(of: metric, in: row, rowNumber: rows) }
                } catch {
                    record(.ok, template, "\(pipeline.queryFile) runs for \(window), \(origin)")
                    record(.failed, mapping, "\(error.description) (window \(window)); a pass would fail here: fix the query in \(pipeline.queryFile)",
                           exitCode: error.code.exitCode)
                    return
                }
            }
        } catch {
            let isTemplate = !error.isTransient && ![.transport, .authentication, .configuration].contains(error.code)
            record(.failed, template, "\(pipeline.queryFile) failed while its result streamed for \(window) (\(shownParameters)): \(error.description)",
                   exitCode: isTemplate ? 2 : 1)
            record(.skipped, mapping, "needs the template's whole result (see the template line)")
            return
        }
        record(.ok, template, "\(pipeline.queryFile) runs for \(window), \(origin): \(rows) row(s)")
        record(.ok, mapping, "columns and types fit \(pipeline.metrics.map(\.name).joined(separator: ", "))"
            + (rows > 0 ? "; \(rows) row(s) pass a pass's checks" : "") + (pipeline.enabled ? "" : " [pipeline disabled]"))
    }

    mutating func checkMetricsEndpoint(_ configuration: BridgeConfiguration, logger: Logger) {
        guard configuration.pushEnabled else {
            record(.skipped, "otlp metrics", "OTEL_PUSH_ENABLED is not true, so run exports nothing; set it to true to export, and validate checks \(HTTPError.redactedURL(configuration.metricsExporter.endpoint))")
            return
        }
        checkEndpoint("otlp metrics", configuration.metricsExporter, signal: .metrics, logger: logger,
                      variables: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, OTEL_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT")
    }

    mutating func checkTracesEndpoint(_ configuration: BridgeConfiguration, logger: Logger) {
        let prefix = EnvironmentVariable.tracesExporterPrefix
        checkEndpoint("otlp traces", configuration.genAITraces.exporter, signal: .traces, logger: logger,
                      variables: "\(prefix)_TRACES_ENDPOINT or \(prefix)_ENDPOINT")
    }

    /// An empty `Export…ServiceRequest`: valid OTLP that exports nothing. One attempt, no retry:
    /// what the receiver answers first is what the line says.
    mutating func checkEndpoint(_ name: String, _ configuration: OTLPExporterConfiguration, signal: OTLPExporterConfiguration.Signal,
                                logger: Logger, variables: String, note: String = "") {
        let exporter = OTLPHTTPExporter(configuration: configuration, signal: signal, retryPolicy: RetryPolicy(maxElapsed: .zero), logger: logger)
        let empty: [UInt8] = configuration.wireProtocol == .httpJSON ? Array("{}".utf8) : []
        let endpoint = HTTPError.redactedURL(configuration.endpoint)
        let reach = "check \(variables) and that the collector is up and reachable from here"
        switch exporter.send(configuration.compression == .gzip ? Gzip.compress(empty) : empty) {
        case .acknowledged:
            record(.ok, name, "\(endpoint) acknowledged an empty export with an OTLP response\(note)")
        case .retryable(let status, let message, _):
            record(.failed, name, "\(endpoint) is unavailable\(status.map { " (HTTP \($0))" } ?? ""): \(message); \(reach)")
        case .transportFailed(let message):
            record(.failed, name, "\(endpoint) cannot be reached: \(message); \(reach)")
        case .failed(let status, let message):
            record(.failed, name, "\(endpoint) refused an empty export (HTTP \(status)): \(message); check the endpoint's path (\(variables)) and the headers it needs (OTEL_EXPORTER_OTLP_HEADERS)")
        case .invalidResponse(_, let message):
            record(.failed, name, "\(endpoint) is not an OTLP/HTTP receiver: \(message); point \(variables) at the collector's OTLP/HTTP endpoint (usually port 4318)")
        }
    }
}

extension BridgeConfiguration {
    /// Every on/off setting as read, by its variable: what `validate` prints, and what `run` and
    /// `serve` act on (they read these fields).
    public var switches: [(variable: EnvironmentVariable, on: Bool)] {
        [
            (.otelPushEnabled, pushEnabled),
            (.bridgeSelfTelemetry, selfTelemetry),
            (.clickhouseCompression, clickhouse.compression),
            (.genAITracesEnabled, genAITraces.enabled),
            (.genAITracesDeprecatedAttributes, genAITraces.deprecatedAttributes),
        ]
    }
}
