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

/// One pass of the GenAI traces pipeline (`gen_ai_traces`): the traces adapter over the
/// ``PassRunner``, as ``RollupPass`` is for a rollup. The one owner of its lock and run record
/// (through ``PassRecord``). What to do next is the ``TracePager``'s decision; the runner does it
/// over the traces' seams (``TraceRows``: pages of rows; ``SpanItems``: rows → spans;
/// ``SpanRequests``: the traces exporter; the ledger):
///
/// 1. Lock the pipeline, read its keyset watermark, open a run record (the ledger).
/// 2. Query a page of rows after the keyset and older than now − lag (`queries/gen_ai_traces.sql`,
///    the keyset and bounds as query parameters); each row becomes a span (``SpanMapping``),
///    encoded once (``SpanRequestWriter``).
/// 3. Batches of spans, cut to the span and byte limits, go to the traces endpoint through its
///    own exporter; once acknowledged, the ledger commits the last row's keyset with the run's
///    counters in one transaction.
/// 4. The run record is closed and the lock released, whatever happened.
final class TracePass {
    let configuration: GenAITraceConfiguration
    let sql: String
    let context: PassContext
    let ledger: any KeysetLedger
    let exporter: OTLPHTTPExporter
    let writer: SpanRequestWriter

    private var pipeline: String { GenAITraceConfiguration.pipeline }
    private var logger: Logger { context.logger }

    init(configuration: GenAITraceConfiguration, sql: String, context: PassContext, ledger: any KeysetLedger,
         exporter: OTLPHTTPExporter, writer: SpanRequestWriter) {
        self.configuration = configuration
        self.sql = sql
        self.context = context
        self.ledger = ledger
        self.exporter = exporter
        self.writer = writer
    }

    /// Runs the pass. Never throws: a failure is in the summary (and the run record), with the
    /// watermark where the last acknowledged batch put it. The summary's points are spans.
    func run() -> PassSummary {
        let initial = context.startAt / 1_000_000 * 1_000_000  // whole milliseconds, as created_at
        let summary = PassSummary(pipeline: pipeline, status: .ok, watermarkBefore: initial, watermarkAfter: initial)
        let record = context.record(pipeline: pipeline, ledger: ledger)
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
                watermark: watermark, until: (context.now - configuration.lagSeconds * 1_000_000_000) / 1_000_000 * 1_000_000)
            let source = TraceRows(sql: sql, clickhouse: context.clickhouse, pageSize: configuration.pageSize, metadataKeys: configuration.metadataAttributes,
                                   queryPath: configuration.queryPath)
            let items = SpanItems(mapping: SpanMapping(deprecatedAttributes: configuration.deprecatedAttributes, conventions: configuration.conventions),
                                  writer: writer)
            var runner = PassRunner<TracePager, TraceRows, SpanItems, SpanRequests>(pipeline: pipeline, source: source, writer: items, sink: SpanRequests(exporter: exporter, writer: writer),
                                    ledger: ledger, worker: context.worker, stop: context.stop, logger: logger)
            try runner.run(&pager, summary: &summary) { (action, _, _, _) throws(BridgeError) -> TracePager.Action in
                preconditionFailure("the pager has no action of its own: \(action)")
            }
        }, finished: { summary in
            logger.info("pass finished", metadata: [
                "watermark": "\(UTCInstant(unixNanoseconds: summary.watermarkAfter).iso8601)", "spans": "\(summary.pointsExported)",
                "batches": "\(summary.batches)", "rejected": "\(summary.pointsRejected)", "pages": "\(summary.queries)",
            ])
        })
    }
}

extension TracePager: RunnableMachine {
    func step(_ action: Action) -> RunnerStep<(after: Keyset, until: Int64), [EncodedSpan]> {
        switch action {
        case .query(let after, let until): .query((after, until))
        case .read: .read
        case .deliver(let spans): .deliver(spans)
        case .commit(let batch): .commit(batch)
        case .finish: .finish
        }
    }

    mutating func endOfQuery() -> Action { endOfPage() }

    /// Points are spans, queries are pages; rows read are the spans exported.
    var counters: PassCounters {
        PassCounters(watermark: keyset.time, rowsRead: spansExported, exported: spansExported, rejected: spansRejected, batches: batches, queries: pages)
    }
}

/// The traces' row source: a page of rows after a keyset, bound by column name.
struct TraceRows: RowSource {
    let sql: String
    let clickhouse: ClickHouseClient
    let pageSize: Int
    let metadataKeys: [String]
    let queryPath: String
    private var open: (stream: ClickHouseRowStream, binding: GenAIRowBinding)?
    private var values: [ClickHouseValue] = []
    /// The row's bytes: the binding reads its columns in place (`GenAIRowBinding.row(_: RawRow)`).
    private var raw = RawRow()
    private var pipeline: String { GenAITraceConfiguration.pipeline }

    init(sql: String, clickhouse: ClickHouseClient, pageSize: Int, metadataKeys: [String], queryPath: String) {
        self.sql = sql
        self.clickhouse = clickhouse
        self.pageSize = pageSize
        self.metadataKeys = metadataKeys
        self.queryPath = queryPath
    }

    mutating func open(_ page: (after: Keyset, until: Int64)) throws(BridgeError) {
        close()
        do {
            let stream = try clickhouse.query(sql, parameters: TraceQuery.parameters(after: page.after, until: page.until, pageSize: pageSize, metadataKeys: metadataKeys))
            open = (stream, try GenAIRowBinding(columns: stream.columns, pipeline: pipeline, file: queryPath))
        } catch let error as BridgeError {
            throw error
        } catch {
            throw BridgeError(.query, "\(error)", pipeline: pipeline, file: queryPath, underlying: error)
        }
    }

    mutating func next() throws(BridgeError) -> GenAIRow? {
        let more: Bool
        do { more = try open!.stream.next(into: &values, raw: &raw, decode: open!.binding.decode) } catch {
            throw BridgeError(.query, error.description, pipeline: pipeline, file: queryPath, underlying: error)
        }
        guard more else {
            close()
            return nil
        }
        return try open!.binding.row(raw)
    }

    var isOpen: Bool { open != nil }

    mutating func close() {
        open?.stream.close()
        open = nil
    }
}

/// The traces' item writer: a row's span (``SpanMapping``), encoded once (``SpanRequestWriter``),
/// straight from the row's parts (``SpanEncoder``: no `Span` value built in between).
struct SpanItems: ItemWriter {
    private var encoder: SpanEncoder

    init(mapping: SpanMapping, writer: SpanRequestWriter) {
        encoder = SpanEncoder(mapping: mapping, writer: writer)
    }

    mutating func write(_ row: GenAIRow, notes: inout PassSummary) throws(BridgeError) -> PagedSpan {
        do { return PagedSpan(span: try encoder.encode(row), keyset: row.keyset) } catch {
            throw BridgeError(.export, "cannot encode the span of row \(row.id): \(error)", pipeline: GenAITraceConfiguration.pipeline, underlying: error)
        }
    }
}

/// The traces' sink seam: a batch of spans as one request to the traces endpoint.
struct SpanRequests: RequestSink {
    let exporter: OTLPHTTPExporter
    let writer: SpanRequestWriter

    func attemptBound(for spans: [EncodedSpan]) -> Duration { exporter.configuration.timeout }

    func send(_ spans: [EncodedSpan], willRetry: () -> Void) throws(BridgeError) -> ExportAcknowledgement {
        do { return try exporter.export(body: writer.assemble(spans), willRetry: willRetry) } catch {
            throw BridgeError(.export, error.description, pipeline: GenAITraceConfiguration.pipeline, underlying: error)
        }
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
        let driver = TracePass(
            configuration: traces, sql: traces.sql,
            context: passContext(pipeline: GenAITraceConfiguration.pipeline, clickhouse: ClickHouseClient(configuration: configuration.clickhouse, logger: logger), stop: stop, recordSkips: recordSkips, worker: lease.worker),
            ledger: CheckpointLedger(store: store), exporter: lease.traces(self), writer: writer)
        return [driver.run()]
    }

    /// The rollup pipelines `only` selects, leaving out the traces pipeline's name.
    func selectRollups(_ only: [String]) throws(BridgeError) -> [PipelineConfiguration] {
        let rollups = only.filter { $0 != GenAITraceConfiguration.pipeline }
        if !only.isEmpty && rollups.isEmpty { return [] }
        return try select(rollups)
    }
}
