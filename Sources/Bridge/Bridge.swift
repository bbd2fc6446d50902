import Observability
import Rollup
import Checkpoints
import ClickHouse
import CurlHTTP
import Foundation
import Logging
import OTLP
import PipelineConfig
import Postgres
import UTCTime

/// The bridge's commands over its configuration: what the CLI calls. Every method blocks; call
/// them through ``Bridge/offload(_:)`` from async code. Immutable, so `Sendable`; each call opens
/// its own connections.
public final class Bridge: Sendable {
    public let configuration: BridgeConfiguration
    public let pipelines: [PipelineConfiguration]
    package let logger: Logger
    package let now: @Sendable () -> Int64
    /// Removes configured secrets from what is stored in the checkpoint tables.
    public let redact: Redactor
    /// The bridge's own health over every pass of this instance (``SelfTelemetry``).
    public let telemetry: SelfTelemetry.Recorder

    public init(configuration: BridgeConfiguration, pipelines: [PipelineConfiguration], logger: Logger,
                redactor: Redactor = Redactor(secrets: []),
                now: @escaping @Sendable () -> Int64 = Bridge.systemNow) {
        self.configuration = configuration
        // BRIDGE_METADATA_ATTRIBUTES is every pipeline's list; BRIDGE_MAX_POINT_AGE the max_point_age
        // of every pipeline whose YAML sets none.
        self.pipelines = pipelines.map { pipeline in
            var p = pipeline
            if let keys = configuration.metadataAttributes { p.metadataAttributes = keys }
            if p.maxPointAgeSeconds == nil { p.maxPointAgeSeconds = configuration.maxPointAgeSeconds }
            return p
        }
        self.logger = logger
        self.redact = redactor
        self.now = now
        self.telemetry = SelfTelemetry.Recorder(temporality: configuration.temporality, resource: configuration.resource, startTime: now())
    }

    /// The system clock in Unix nanoseconds.
    public static let systemNow: @Sendable () -> Int64 = { UTCInstant.now.unixNanoseconds }

    /// Reads the environment and the pipeline file.
    public static func load(environment: [String: String], logger: Logger, now: @escaping @Sendable () -> Int64 = Bridge.systemNow) throws(BridgeError) -> Bridge {
        try load(configuration: BridgeConfiguration(environment: environment), redactor: Redactor(environment: environment), logger: logger, now: now)
    }

    /// Reads the pipeline file of `configuration` (the environment, read once).
    public static func load(configuration: BridgeConfiguration, redactor: Redactor, logger: Logger,
                            now: @escaping @Sendable () -> Int64 = Bridge.systemNow) throws(BridgeError) -> Bridge {
        var configuration = configuration
        if let start = configuration.startAt, start > now() {
            throw BridgeError(.configuration, "\(UTCInstant(unixNanoseconds: start).iso8601) is in the future: a pipeline's first watermark must be a time whose buckets can close", key: "BRIDGE_START_AT")
        }
        let file: (defaults: PipelineFile.Defaults, pipelines: [PipelineConfiguration])
        do throws(PipelineConfigError) {
            file = try PipelineFile.loadFile(path: configuration.configPath, conventions: configuration.genAIConventions)
        } catch {
            throw BridgeError(error)
        }
        // The spans' metadata keys: BRIDGE_METADATA_ATTRIBUTES, else the file's defaults.
        if configuration.metadataAttributes == nil { configuration.genAITraces.metadataAttributes = file.defaults.metadataAttributes }
        return Bridge(configuration: configuration, pipelines: file.pipelines, logger: logger, redactor: redactor, now: now)
    }

    /// Reads the pipeline file at `path`, with the metric mappings of `conventions`; a refused file
    /// or template is a configuration or template error (exit code 2).
    public static func loadPipelines(path: String, conventions: GenAIConventions = .v1_41_1) throws(BridgeError) -> [PipelineConfiguration] {
        do {
            return try PipelineFile.load(path: path, conventions: conventions)
        } catch {
            throw BridgeError(error)
        }
    }

    /// Runs `body` on a thread of its own (the bridge's I/O blocks), returning its result: a
    /// ``PassWorker`` for the one call, closed once `body` is queued (its thread ends with it).
    public static func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let worker = PassWorker(name: "offload")
            worker.post { continuation.resume(with: Result { try body() }) }
            worker.close()
        }
    }

    // MARK: - run

    /// One catch-up pass over the enabled pipelines (or `only` those named). Never throws for a
    /// pipeline's failure: that is in its summary; throws when nothing can start (bad usage,
    /// Postgres unreachable).
    ///
    /// - Parameters:
    ///   - stop: tells the passes to stop at their next safe point (`serve`'s shutdown).
    ///   - recordSkips: record a pass skipped for the lock in `otel_bridge.runs` (`serve`'s
    ///     replicas skip each other every step and do not).
    ///   - progress: told how far each pass has got (a bar, log lines, or nothing).
    ///   - resources: the connection and exporters to use (a `serve` schedule's, kept across its
    ///     passes); `nil`: made for this pass, the checkpoint schema's migrations checked.
    public func run(dryRun: Bool = false, only: [String] = [], progress: any PassProgress = NoProgress(),
                    output: @escaping @Sendable (String) -> Void = { print($0) },
                    stop: StopSignal? = nil, recordSkips: Bool = true,
                    resources: PassResources? = nil) throws(BridgeError) -> [PassSummary] {
        try (resources ?? PassResources(migrates: true)).borrow { (lease) throws(BridgeError) in
            try run(dryRun: dryRun, only: only, progress: progress, output: output, stop: stop, recordSkips: recordSkips, lease: lease)
        }
    }

    private func run(dryRun: Bool, only: [String], progress: any PassProgress, output: @escaping @Sendable (String) -> Void,
                     stop: StopSignal?, recordSkips: Bool, lease: PassResources.Lease) throws(BridgeError) -> [PassSummary] {
        let selected = try selectRollups(only)
        if !dryRun && !configuration.pushEnabled {
            logger.warning("metrics export is disabled: set OTEL_PUSH_ENABLED=true to export (nothing was queried, no watermark moved)")
            return try runTraces(dryRun: dryRun, only: only, stop: stop, recordSkips: recordSkips, lease: lease)
        }
        let reportsTelemetry = !dryRun && configuration.selfTelemetry
        let store: CheckpointStore
        do {
            store = try lease.store(self)
        } catch {
            if reportsTelemetry {
                telemetry.recordFailure(pipelines: selected.map(\.name), errorType: "checkpoint")
                reportSelfTelemetry(after: nil)
            }
            throw error
        }
        let clickhouse = ClickHouseClient(configuration: configuration.clickhouse, logger: logger)
        // A dry run is another sink and another ledger: it prints the points and writes nothing.
        let ledger: any PassLedger = dryRun ? DryRunLedger(store: store) : CheckpointLedger(store: store)
        let exporter = dryRun ? nil : lease.metrics(self)
        var summaries: [PassSummary] = []
        for pipeline in selected where !(stop?.isStopped ?? false) {
            let headers = BucketPoints.headers(of: pipeline, temporality: configuration.temporality)
            let sink: any PointSink
            if let exporter {
                do {
                    sink = OTLPSink(exporter: exporter, writer: try MetricRequestWriter(
                        resource: configuration.resource, scope: InstrumentationScope(name: "otel-bridge", version: BridgeConfiguration.version),
                        metrics: headers, wireProtocol: configuration.metricsExporter.wireProtocol), pipeline: pipeline)
                } catch {
                    throw BridgeError(.export, "cannot encode the request headers: \(error)", pipeline: pipeline.name, underlying: error)
                }
            } else {
                sink = PrintingSink(metrics: headers, pipeline: pipeline, write: output)
            }
            let driver = RollupPass(
                pipeline: pipeline, context: passContext(pipeline: pipeline.name, clickhouse: clickhouse, stop: stop, recordSkips: recordSkips, worker: lease.worker),
                ledger: ledger, sink: sink, temporality: configuration.temporality, progress: progress)
            let clock = ContinuousClock()
            let started = clock.now
            let summary = driver.run()
            if reportsTelemetry {
                telemetry.record(summary, duration: clock.now - started, errorType: SelfTelemetry.errorType(of: summary), now: now())
            }
            summaries.append(summary)
        }
        // After the metrics, with its own exporter: a traces endpoint that is down never holds them back.
        let clock = ContinuousClock()
        let started = clock.now
        let traces = try runTraces(dryRun: dryRun, only: only, stop: stop, recordSkips: recordSkips, lease: lease)
        if reportsTelemetry {
            for summary in traces {
                telemetry.record(summary, duration: clock.now - started, errorType: SelfTelemetry.errorType(of: summary), now: now())
            }
            reportSelfTelemetry(after: exporter)
        }
        return summaries + traces
    }

    /// Sends the self-telemetry in a request of its own, with a short retry budget (one attempt if
    /// the run's exporter found the endpoint down). A failure is a warning: it changes no exit code
    /// and no watermark; under delta temporality what it carried goes with the next report.
    private func reportSelfTelemetry(after exporter: OTLPHTTPExporter?) {
        telemetry.reporting.withLock {
            guard let report = telemetry.report(now: now()) else { return }
            var exporterConfiguration = configuration.metricsExporter
            exporterConfiguration.timeout = min(exporterConfiguration.timeout, .seconds(5))
            let sender = OTLPHTTPExporter(configuration: exporterConfiguration, signal: .metrics,
                                          retryPolicy: RetryPolicy(maxElapsed: exporter?.isEndpointUnavailable == true ? .zero : .seconds(3)), logger: logger)
            do {
                _ = try sender.export(body: SwiftProtobufMetricsEncoder().encode(report.batch, as: exporterConfiguration.wireProtocol))
                telemetry.acknowledge(report)
            } catch {
                telemetry.abandon(report)
                logger.warning("self-telemetry was not exported (the rollups are not affected)", metadata: ["error": "\(redact("\(error)"))"])
            }
        }
    }

    // MARK: - helpers

    /// What a pass of `pipeline` gets from this run, whatever its kind: the ClickHouse client, a
    /// logger naming the pipeline, where a pipeline without checkpoint starts (`BRIDGE_START_AT`, or
    /// an hour ago), the time the pass sees as now, the redactor, the stop signal and the worker.
    func passContext(pipeline: String, clickhouse: ClickHouseClient, stop: StopSignal?, recordSkips: Bool, worker: PassWorker?) -> PassContext {
        PassContext(clickhouse: clickhouse, logger: logger.with(pipeline: pipeline),
                    startAt: configuration.startAt ?? now() - 3_600_000_000_000, now: now(), redact: redact,
                    stop: stop, recordSkips: recordSkips, worker: worker)
    }

    package func select(_ only: [String]) throws(BridgeError) -> [PipelineConfiguration] {
        for name in only where !pipelines.contains(where: { $0.name == name }) {
            throw BridgeError(.usage, "no pipeline named '\(name)' in \(configuration.configPath) (pipelines: \(pipelines.map(\.name).joined(separator: ", ")))")
        }
        return pipelines.filter { only.isEmpty ? $0.enabled : only.contains($0.name) }
    }

    /// Connects to the checkpoint store and, with `migrate`, checks its schema's migrations
    /// (applying those it lacks).
    package func openStore(migrate: Bool = true) throws(BridgeError) -> CheckpointStore {
        do {
            let connection = try PostgresConnection.connect(conninfo: configuration.checkpointDatabaseURL, logger: logger)
            let store = CheckpointStore(connection: connection, logger: logger)
            if migrate {
                let applied = try store.migrate()
                logger.debug("checkpoint schema checked", metadata: ["applied": "\(applied.count)"])
            }
            return store
        } catch {
            throw BridgeError(.checkpoint, "cannot use the checkpoint store (CHECKPOINT_DATABASE_URL): \(error)", underlying: error)
        }
    }
}

extension Logger {
    package func with(pipeline: String) -> Logger {
        var copy = self
        copy[metadataKey: "pipeline"] = "\(pipeline)"
        return copy
    }
}
