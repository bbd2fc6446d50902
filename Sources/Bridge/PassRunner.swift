import Checkpoints
import ClickHouse
import Foundation
import Logging
import Observability
import OTLP
import Rollup
import UTCTime

/// What every pass gets from the run that starts it, whatever its kind (``RollupPass``, ``TracePass``).
struct PassContext {
    let clickhouse: ClickHouseClient
    /// Names the pipeline.
    let logger: Logger
    /// A pipeline without checkpoint starts here (Unix ns; a rollup aligns it down).
    let startAt: Int64
    /// The pass's now (Unix ns): what closed buckets and the traces' lag are measured from.
    let now: Int64
    let redact: Redactor
    /// Checked before each query and each delivery: a stopped pass ends where it stands.
    let stop: StopSignal?
    /// Whether a pass skipped for the lock is recorded in `runs` (`serve`'s replicas do not).
    let recordSkips: Bool
    /// Where deliveries and commits run while the pass reads ahead (`nil`: on the pass's thread).
    let worker: PassWorker?

    /// The pass's lock, run record and failure handling.
    func record(pipeline: String, ledger: any PassLedger) -> PassRecord {
        PassRecord(pipeline: pipeline, ledger: ledger, logger: logger, redact: redact, recordSkips: recordSkips)
    }
}

// MARK: - The seams

/// Where a pass's rows come from: a query opened, its rows read in order. Blocking; used on the
/// pass's thread only.
protocol RowSource {
    associatedtype Query
    associatedtype Row
    /// Opens `query` (closing the one open, if any).
    mutating func open(_ query: Query) throws(BridgeError)
    /// The next row of the open query; `nil` at its end (the query is then closed).
    mutating func next() throws(BridgeError) -> Row?
    /// Whether a query is open.
    var isOpen: Bool { get }
    mutating func close()
}

/// Turns a row into the item a batch is made of, encoded once: a bucket's points (rollups), a
/// row's span (GenAI traces). On the pass's thread only; it may note what it saw in the summary
/// (merged rows, overflowed series).
protocol ItemWriter {
    associatedtype Row
    associatedtype Item: BatchItem
    mutating func write(_ row: Row, notes: inout PassSummary) throws(BridgeError) -> Item
}

/// Where a batch goes: one delivery, acknowledged once every request of it is. Called on the
/// pass's worker thread while the pass thread reads ahead, hence `Sendable`.
protocol RequestSink: Sendable {
    associatedtype Request: Sendable
    /// Sends `request` until it is acknowledged (or throws), calling `willRetry` before each wait
    /// for a retry.
    func send(_ request: Request, willRetry: () -> Void) throws(BridgeError) -> ExportAcknowledgement
    /// How long sending `request` may take before its first retry (every attempt's timeout).
    func attemptBound(for request: Request) -> Duration
}

// The fourth seam, the ledger (lock, watermark, run record, commit), is ``PassLedger``.

// MARK: - The machine as the runner sees it

/// An action of a machine, as far as the runner is concerned.
enum RunnerStep<Query, Request> {
    case query(Query)
    case read
    case deliver(Request)
    case commit(BatchCommit)
    case finish
    /// An action of the pipeline's own (late data, digests, old buckets): its adapter's.
    case other
}

/// What a pass has committed so far, as a machine counts it.
struct PassCounters: Equatable {
    var watermark: Int64
    var rowsRead: Int64 = 0
    var exported: Int64 = 0
    var rejected: Int64 = 0
    var batches = 0
    var queries = 0
    var lateBuckets = 0
    var lateFolded = 0
    var lateUnfolded = 0
    var pointsSkipped: Int64 = 0
}

/// A pass's decisions (``PassMachine``, `TracePager`), driven by the ``PassRunner``: the runner
/// reports what came of each action and the machine says what to do next. The batching and the
/// read-ahead are the machine's ``Batcher``'s.
protocol RunnableMachine {
    associatedtype Action
    associatedtype Query
    associatedtype Request: Sendable
    associatedtype Item: BatchItem
    func step(_ action: Action) -> RunnerStep<Query, Request>
    mutating func start() -> Action
    mutating func read(_ item: Item) -> Action
    mutating func endOfQuery() -> Action
    /// The delivery in flight acknowledged: its commit, which is
    /// ``commitInFlight``'s ``BatchCommit/acknowledged(by:unit:)`` in ``unit``s.
    mutating func acknowledged(_ ack: ExportAcknowledgement) -> Action
    mutating func committed() -> Action
    var counters: PassCounters { get }
    /// What the batch being delivered commits, before its acknowledgement (its series state,
    /// none for spans): set when the machine asks for a delivery.
    var commitInFlight: BatchCommit? { get }
    /// What a batch is made of, as its rejections are reported: `points`, `spans`.
    static var unit: String { get }
    var readsAhead: Bool { get }
    mutating func readAhead(_ item: Item)
    mutating func endReadAhead(failed: Bool)
    mutating func nextAhead() -> Batcher<Item>.Ahead?
}

extension PassSummary {
    /// The machine's counters: what is committed so far.
    mutating func record(_ c: PassCounters) {
        watermarkAfter = max(watermarkBefore, c.watermark)
        rowsRead = c.rowsRead
        pointsExported = c.exported
        pointsRejected = c.rejected
        batches = c.batches
        queries = c.queries
        lateBuckets = c.lateBuckets
        lateFolded = c.lateFolded
        lateUnfolded = c.lateUnfolded
        pointsSkipped = c.pointsSkipped
    }
}

// MARK: - The runner

/// Carries out the actions of one pass's machine over the four seams: a row source, an item
/// writer, a sink and a ledger. The rollups (``RollupPass``) and the GenAI traces
/// (``TracePass``) are two adapters over it; what is theirs alone (late data, digests, old
/// buckets) comes back to the adapter as ``RunnerStep/other``.
///
/// **Overlap.** A delivery, and the commit that follows its acknowledgement, run on the pass's
/// ``PassWorker`` as one job while this thread reads, writes and hands to the machine the items
/// that follow, as long as the machine's batcher lets it (``RunnableMachine/readsAhead``: about
/// one more batch); the items wait in the batcher until the machine asks to read, so it sees the
/// same events in the same order as a sequential pass (acknowledged, then committed). The commit
/// is the one the machine gave with the delivery (``RunnableMachine/commitInFlight``), so the
/// worker goes from the receiver's answer to the store without waiting for this thread. A read
/// that fails meanwhile is reported where the machine next asks to read, after the batch in
/// flight is acknowledged and committed. Reading ahead happens only when reading needs no
/// checkpoint store (``readsWithoutStore``), so the two threads never share a connection.
///
/// **Safe points.** Before each query and each delivery the stop signal is checked: a stopped
/// pass ends where it stands, what was committed stays. Before each send the ledger confirms the
/// lock is still held (on the worker, as part of the delivery: this thread reads ahead meanwhile).
struct PassRunner<Machine: RunnableMachine, Source: RowSource, Writer: ItemWriter, Sink: RequestSink>
where Source.Query == Machine.Query, Writer.Row == Source.Row, Writer.Item == Machine.Item, Sink.Request == Machine.Request {
    let pipeline: String
    var source: Source
    var writer: Writer
    let sink: Sink
    let ledger: any PassLedger
    /// Where deliveries and commits run; `nil`: on the pass's thread, without overlap.
    let worker: PassWorker?
    let stop: StopSignal?
    let logger: Logger
    /// What the receiver rejects: `points`, `spans`.
    private var unit: String { Machine.unit }
    /// Whether reading needs no checkpoint store connection now (else nothing is read ahead).
    var readsWithoutStore: () -> Bool = { true }
    /// Told after each commit (progress).
    var committed: (Machine) -> Void = { _ in }

    /// A read that failed while reading ahead, until the machine reaches it.
    private var aheadFailure: BridgeError?

    init(pipeline: String, source: Source, writer: Writer, sink: Sink, ledger: any PassLedger, worker: PassWorker?,
         stop: StopSignal?, logger: Logger) {
        self.pipeline = pipeline
        self.source = source
        self.writer = writer
        self.sink = sink
        self.ledger = ledger
        self.worker = worker
        self.stop = stop
        self.logger = logger
    }

    /// Runs the machine to its end (or to the stop signal), keeping `summary` up to date as it
    /// commits; on a failure the summary holds what was committed before it. `other` does the
    /// adapter's own actions.
    mutating func run(_ machine: inout Machine, summary: inout PassSummary,
                      other: (Machine.Action, inout Machine, inout PassSummary, inout Source) throws(BridgeError) -> Machine.Action) throws(BridgeError) {
        defer { source.close() }
        do {
            try loop(&machine, summary: &summary, other: other)
        } catch {
            summary.record(machine.counters)  // what was committed before the failure
            throw error
        }
    }

    private mutating func loop(_ machine: inout Machine, summary: inout PassSummary,
                               other: (Machine.Action, inout Machine, inout PassSummary, inout Source) throws(BridgeError) -> Machine.Action) throws(BridgeError) {
        var action = machine.start()
        while true {
            let step = machine.step(action)
            switch step {
            case .query, .deliver:
                if stop?.isStopped == true {
                    logger.notice("stopping for shutdown: nothing more is queried or sent", metadata: [
                        "watermark": "\(UTCInstant(unixNanoseconds: max(summary.watermarkBefore, machine.counters.watermark)).iso8601)",
                    ])
                    summary.record(machine.counters)
                    return
                }
            default:
                break
            }
            switch step {
            case .query(let query):
                try source.open(query)
                action = try read(&machine, notes: &summary)
            case .read:
                action = try read(&machine, notes: &summary)
            case .deliver(let request):
                guard let pending = machine.commitInFlight else { preconditionFailure("a delivery without its commit") }
                let sink = self.sink, ledger = self.ledger, name = pipeline, unit = self.unit
                // One job on the worker: the lock confirmed and the commit begun (the store writes
                // its books while the request is in flight; a delivery that fails or waits to retry
                // rolls them back), the request sent and, once acknowledged, committed.
                let delivered = try overlapped(&machine, notes: &summary) { () throws(BridgeError) -> (ExportAcknowledgement, BridgeError?) in
                    // The lock is confirmed where the batch is sent, just before it, in the round
                    // trip that opens its commit: this thread, reading ahead meanwhile, does not wait.
                    do { try ledger.stage(pending, holdFor: sink.attemptBound(for: request)) } catch {
                        throw BridgeError(.checkpoint, "lost the checkpoint store before sending a batch: \(error)", pipeline: name, underlying: error)
                    }
                    let ack: ExportAcknowledgement
                    do throws(BridgeError) {
                        ack = try sink.send(request, willRetry: { ledger.abandonStage() })
                    } catch {
                        ledger.abandonStage()
                        throw error
                    }
                    // A commit that fails is reported after the machine has seen the acknowledgement.
                    do throws(BridgeError) {
                        try commitBatch(pending.acknowledged(by: ack, unit: unit), ledger: ledger, pipeline: name)
                        return (ack, nil)
                    } catch {
                        return (ack, error)
                    }
                }
                let (ack, commitFailure) = delivered
                if ack.rejected > 0 {
                    logger.warning("receiver rejected \(unit) of an acknowledged batch", metadata: [
                        "rejected": "\(ack.rejected)", "message": "\(ack.message ?? "")",
                    ])
                }
                action = machine.acknowledged(ack)
                guard case .commit(let batch) = machine.step(action) else { preconditionFailure("an acknowledgement not followed by its commit") }
                assert(batch == pending.acknowledged(by: ack, unit: unit), "the machine's commit is not the one the worker made")
                if let commitFailure { throw commitFailure }
                action = machine.committed()
                summary.record(machine.counters)
                committed(machine)
            case .commit(let batch):
                // A commit without a delivery: the watermark moved over buckets without points, or
                // a pass that found nothing new recorded.
                let ledger = self.ledger, name = pipeline
                try overlapped(&machine, notes: &summary) { () throws(BridgeError) in
                    try commitBatch(batch, ledger: ledger, pipeline: name)
                }
                action = machine.committed()
                summary.record(machine.counters)
                committed(machine)
            case .finish:
                summary.record(machine.counters)
                return
            case .other:
                action = try other(action, &machine, &summary, &source)
            }
        }
    }

    /// The next item for the machine: what was read ahead first, else the source's next row.
    private mutating func read(_ machine: inout Machine, notes: inout PassSummary) throws(BridgeError) -> Machine.Action {
        switch machine.nextAhead() {
        case .item(let item)?:
            return machine.read(item)
        case .end?:
            return machine.endOfQuery()
        case .failed?:
            let error = aheadFailure!
            aheadFailure = nil
            throw error  // a read that failed while a batch was in flight
        case nil:
            guard let row = try source.next() else { return machine.endOfQuery() }
            return machine.read(try writer.write(row, notes: &notes))
        }
    }

    /// Runs `work` on the worker, reading ahead meanwhile as far as the machine lets it; its result.
    private mutating func overlapped<T: Sendable>(_ machine: inout Machine, notes: inout PassSummary,
                                                  _ work: @escaping @Sendable () throws(BridgeError) -> T) throws(BridgeError) -> T {
        guard let worker else { return try work() }
        let job = worker.submit(work)
        while source.isOpen && readsWithoutStore() && !job.isDone && machine.readsAhead {
            do throws(BridgeError) {
                guard let row = try source.next() else {
                    machine.endReadAhead(failed: false)
                    break
                }
                machine.readAhead(try writer.write(row, notes: &notes))
            } catch {
                aheadFailure = error
                machine.endReadAhead(failed: true)
            }
        }
        return try job.wait()
    }
}

/// Commits `batch` (on the pass's worker); a failure says whether an acknowledged batch will be
/// sent again. A free function: the worker's jobs capture nothing of the runner's generic types.
private func commitBatch(_ batch: BatchCommit, ledger: any PassLedger, pipeline: String) throws(BridgeError) {
    do { try ledger.commit(batch) } catch {
        throw BridgeError(.checkpoint, batch.pointsExported > 0
            ? "the batch up to \(batch.watermark.iso8601) was acknowledged but its checkpoint could not be committed (it will be sent again): \(error)"
            : "\(error)", pipeline: pipeline, underlying: error)
    }
}
