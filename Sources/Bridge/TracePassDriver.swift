import Observability
import Checkpoints
import ClickHouse
import Foundation
import GenAITraces
import Logging
import OTLP
import PipelineConfig
import Rollup
import UTCTime

/// The books of a keyset pipeline: a ``PassLedger`` that also reads the watermark's row id.
protocol KeysetLedger: PassLedger {
    /// The pipeline's stored watermark and, once a row was committed, its id; a pipeline without
    /// checkpoint starts at `initial` without id.
    func keyset(pipeline: String, initial: UTCInstant) throws -> (time: Int64, id: String?)
}

extension CheckpointLedger: KeysetLedger {
    func keyset(pipeline: String, initial: UTCInstant) throws -> (time: Int64, id: String?) {
        let k = try store.ensureKeyset(pipeline: pipeline, initialWatermark: initial)
        return (k.watermark.unixNanoseconds, k.id)
    }
}

/// Carries out one pass of the GenAI traces pipeline (`gen_ai_traces`), as ``PassDriver`` does
/// for a rollup: the one owner of its lock and run record, the one place where its effects
/// happen. What to do next is the ``TracePager``'s decision:
///
/// 1. Lock the pipeline, read its keyset watermark, open a run record (the ledger).
/// 2. Query a page of rows after the keyset and older than now − lag (`queries/gen_ai_traces.sql`,
///    the keyset and bounds as query parameters); each row becomes a span (``SpanMapping``),
///    encoded once (``SpanRequestWriter``).
/// 3. Batches of spans, cut to the span and byte limits, go to the traces endpoint through its
///    own exporter; once acknowledged, the ledger commits the last row's keyset with the run's
///    counters in one transaction.
/// 4. The run record is closed and the lock released, whatever happened.
final class TracePassDriver {
    let configuration: GenAITraceConfiguration
    let sql: String
    let clickhouse: ClickHouseClient
    let ledger: any KeysetLedger
    let exporter: OTLPHTTPExporter
    let writer: SpanRequestWriter
    let logger: Logger
    /// A pipeline without checkpoint starts here.
    let startAt: Int64
    let now: Int64
    let redact: Redactor
    let stop: StopSignal?
    let recordSkips: Bool

    private var pipeline: String { GenAITraceConfiguration.pipeline }

    init(configuration: GenAITraceConfiguration, sql: String, clickhouse: ClickHouseClient, ledger: any KeysetLedger,
         exporter: OTLPHTTPExporter, writer: SpanRequestWriter, logger: Logger, startAt: Int64, now: Int64,
         redact: Redactor, stop: StopSignal? = nil, recordSkips: Bool = true) {
        self.configuration = configuration
        self.sql = sql
        self.clickhouse = clickhouse
        self.ledger = ledger
        self.exporter = exporter
        self.writer = writer
        self.logger = logger
        self.startAt = startAt
        self.now = now
        self.redact = redact
        self.stop = stop
        self.recordSkips = recordSkips
    }

    /// Runs the pass. Never throws: a failure is in the summary (and the run record), with the
    /// watermark where the last acknowledged batch put it. The summary's points are spans.
    func run() -> PassSummary {
        let initial = startAt / 1_000_000 * 1_000_000  // whole milliseconds, as created_at
        let summary = PassSummary(pipeline: pipeline, status: .ok, watermarkBefore: initial, watermarkAfter: initial)
        let record = PassRecord(pipeline: pipeline, ledger: ledger, logger: logger, redact: redact, recordSkips: recordSkips)
        return record.run(summary, pass: { summary, runID in
            let watermark: (time: Int64, id: String?)
            do {
                watermark = try ledger.keyset(pipeline: pipeline, initial: UTCInstant(unixNanoseconds: initial))
                summary.watermarkBefore = watermark.time
                summary.watermarkAfter = watermark.time
                runID = try ledger.startRun(pipeline: pipeline, windowStart: UTCInstant(unixNanoseconds: watermark.time))
            } catch {
                throw record.checkpointError(error)
            }
            var pager = TracePager(
                settings: TracePager.Settings(
                    pipeline: pipeline, runID: runID ?? 0, pageSize: configuration.pageSize,
                    maxSpansPerRequest: configuration.maxSpansPerRequest,
                    requestBudget: configuration.maxRequestBytes - writer.overhead),
                watermark: watermark, until: (now - configuration.lagSeconds * 1_000_000_000) / 1_000_000 * 1_000_000)
            do {
                try drive(&pager, summary: &summary)
            } catch {
                summary.record(pager)  // what was committed before the failure
                throw error
            }
        }, finished: { summary in
            logger.info("pass finished", metadata: [
                "watermark": "\(UTCInstant(unixNanoseconds: summary.watermarkAfter).iso8601)", "spans": "\(summary.pointsExported)",
                "batches": "\(summary.batches)", "rejected": "\(summary.pointsRejected)", "pages": "\(summary.queries)",
            ])
        })
    }

    private func drive(_ pager: inout TracePager, summary: inout PassSummary) throws(BridgeError) {
        let mapping = SpanMapping(deprecatedAttributes: configuration.deprecatedAttributes, conventions: configuration.conventions)
        var open: (stream: ClickHouseRowStream, binding: GenAIRowBinding)?
        defer { open?.stream.close() }
        var values: [ClickHouseValue] = []
        var action = pager.start()
        while true {
            switch action {
            case .query, .deliver:
                if stop?.isStopped == true {
                    logger.notice("stopping for shutdown: nothing more is queried or sent")
                    summary.record(pager)
                    return
                }
            default:
                break
            }
            switch action {
            case .query(let after, let until):
                open?.stream.close()
                open = nil
                do {
                    let stream = try clickhouse.query(sql, parameters: TraceQuery.parameters(after: after, until: until, pageSize: configuration.pageSize, metadataKeys: configuration.metadataAttributes))
                    open = (stream, try GenAIRowBinding(columns: stream.columns, pipeline: pipeline, file: configuration.queryPath))
                } catch let error as BridgeError {
                    throw error
                } catch {
                    throw BridgeError(.query, "\(error)", pipeline: pipeline, file: configuration.queryPath, underlying: error)
                }
                action = .read
            case .read:
                let more: Bool
                do { more = try open!.stream.next(into: &values) } catch {
                    throw BridgeError(.query, error.description, pipeline: pipeline, file: configuration.queryPath, underlying: error)
                }
                guard more else {
                    open?.stream.close()
                    open = nil
                    action = pager.endOfPage()
                    break
                }
                let row = try open!.binding.row(values)
                let span: EncodedSpan
                do { span = try writer.encode(mapping.span(row)) } catch {
                    throw BridgeError(.export, "cannot encode the span of row \(row.id): \(error)", pipeline: pipeline, underlying: error)
                }
                action = pager.read(span, keyset: row.keyset)
            case .deliver(let spans):
                do { try ledger.confirmHeld(pipeline: pipeline) } catch {
                    throw BridgeError(.checkpoint, "lost the checkpoint store before sending a batch: \(error)", pipeline: pipeline, underlying: error)
                }
                let ack: ExportAcknowledgement
                do { ack = try exporter.export(body: writer.assemble(spans)) } catch {
                    throw BridgeError(.export, error.description, pipeline: pipeline, underlying: error)
                }
                if ack.rejected > 0 {
                    logger.warning("receiver rejected spans of an acknowledged batch", metadata: [
                        "rejected": "\(ack.rejected)", "message": "\(ack.message ?? "")",
                    ])
                }
                action = pager.acknowledged(ack)
            case .commit(let batch):
                do { try ledger.commit(batch) } catch {
                    throw BridgeError(.checkpoint, batch.pointsExported > 0
                        ? "the batch up to \(batch.watermark.iso8601) was acknowledged but its checkpoint could not be committed (it will be sent again): \(error)"
                        : "\(error)", pipeline: pipeline, underlying: error)
                }
                action = pager.committed()
                summary.record(pager)
            case .finish:
                summary.record(pager)
                return
            }
        }
    }
}

extension PassSummary {
    /// The pager's counters: what is committed so far (points are spans, queries are pages).
    mutating func record(_ pager: TracePager) {
        watermarkAfter = pager.keyset.time < watermarkBefore ? watermarkBefore : pager.keyset.time
        rowsRead = pager.spansExported
        pointsExported = pager.spansExported
        pointsRejected = pager.spansRejected
        batches = pager.batches
        queries = pager.pages
    }
}

extension Bridge {
    /// The GenAI traces pass, when `EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED=true` and `only` is
    /// empty or names `gen_ai_traces`; no summary otherwise. A dry run does not cover traces.
    /// Its own exporter: a traces endpoint that is down never holds back the metrics.
    /// The GenAI traces pass alone, with `resources` (`nil`: made for this pass).
    package func runTraces(only: [String], stop: StopSignal?, recordSkips: Bool, resources: PassResources? = nil) throws(BridgeError) -> [PassSummary] {
        try (resources ?? PassResources(migrates: true)).borrow { (lease) throws(BridgeError) in
            try runTraces(dryRun: false, only: only, stop: stop, recordSkips: recordSkips, lease: lease)
        }
    }

    func runTraces(dryRun: Bool, only: [String], stop: StopSignal?, recordSkips: Bool, lease: PassResources.Lease) throws(BridgeError) -> [PassSummary] {
        let traces = configuration.genAITraces
        if !traces.enabled && only.contains(GenAITraceConfiguration.pipeline) {
            throw BridgeError(.usage, "the pipeline \(GenAITraceConfiguration.pipeline) is not enabled: set EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED=true")
        }
        guard traces.enabled, only.isEmpty || only.contains(GenAITraceConfiguration.pipeline), !(stop?.isStopped ?? false) else { return [] }
        guard !dryRun else {
            logger.notice("a dry run does not cover the GenAI traces pipeline", metadata: ["pipeline": "\(GenAITraceConfiguration.pipeline)"])
            return []
        }
        let store = try lease.store(self)
        let writer: SpanRequestWriter
        do {
            writer = try SpanRequestWriter(resource: traces.resource, scope: InstrumentationScope(name: "otel-bridge", version: BridgeConfiguration.version),
                                           wireProtocol: traces.exporter.wireProtocol)
        } catch {
            throw BridgeError(.export, "cannot encode the request headers: \(error)", pipeline: GenAITraceConfiguration.pipeline, underlying: error)
        }
        let driver = TracePassDriver(
            configuration: traces, sql: traces.sql, clickhouse: ClickHouseClient(configuration: configuration.clickhouse, logger: logger),
            ledger: CheckpointLedger(store: store),
            exporter: lease.traces(self),
            writer: writer, logger: logger.with(pipeline: GenAITraceConfiguration.pipeline),
            startAt: configuration.startAt ?? now() - 3_600_000_000_000, now: now(), redact: redact, stop: stop, recordSkips: recordSkips)
        return [driver.run()]
    }

    /// The rollup pipelines `only` selects, leaving out the traces pipeline's name.
    func selectRollups(_ only: [String]) throws(BridgeError) -> [PipelineConfiguration] {
        let rollups = only.filter { $0 != GenAITraceConfiguration.pipeline }
        if !only.isEmpty && rollups.isEmpty { return [] }
        return try select(rollups)
    }
}
