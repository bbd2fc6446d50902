import Checkpoints
import Dispatch
import Foundation
import Logging
import OTLP
import Synchronization
import Testing
import UTCTime
@testable import Bridge
@testable import Observability
@testable import GenAITraces
@testable import Rollup

// The pass runner in process, with fakes for its four seams and no services: the GenAI traces'
// machine (`TracePager`) driven over a fake row source, item writer, sink and ledger. Whatever
// must overlap is made to by construction: the fakes block on semaphores, never on a clock.

private let ms: Int64 = 1_000_000
private let t0: Int64 = 1_764_590_400_000_000_000

/// Row `i`: the keyset `(t0 + i ms, "0i")`.
private func row(_ i: Int) -> Keyset { Keyset(time: t0 + Int64(i) * ms, id: String(format: "%02d", i)) }

/// What happened, in order, across threads.
private final class Journal: Sendable {
    private let entries = Mutex<[String]>([])
    func add(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}

/// A one-shot gate: the sink's first send waits on it; the source opens it when it reads a row.
private final class Gate: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let opened = Mutex(false)
    func open() {
        let first = opened.withLock { o in
            defer { o = true }
            return !o
        }
        if first { semaphore.signal() }
    }
    /// Waits for the gate; false when it was not opened (the guard against a hang, not a timing).
    func pass() -> Bool { semaphore.wait(timeout: .now() + .seconds(60)) == .success }
}

/// The machine as the runner drives it, every event it sees written down.
private struct RecordingMachine: RunnableMachine {
    var pager: TracePager
    let events: Journal
    let ahead: Journal

    func step(_ action: TracePager.Action) -> RunnerStep<(after: Keyset, until: Int64), [EncodedSpan]> { pager.step(action) }
    mutating func start() -> TracePager.Action { events.add("start"); return pager.start() }
    mutating func read(_ item: PagedSpan) -> TracePager.Action { events.add("read \(item.keyset.id)"); return pager.read(item) }
    mutating func endOfQuery() -> TracePager.Action { events.add("end of page"); return pager.endOfQuery() }
    mutating func acknowledged(_ ack: ExportAcknowledgement) -> TracePager.Action { events.add("acknowledged"); return pager.acknowledged(ack) }
    mutating func committed() -> TracePager.Action { events.add("committed"); return pager.committed() }
    var counters: PassCounters { pager.counters }
    var commitInFlight: BatchCommit? { pager.commitInFlight }
    static var unit: String { TracePager.unit }
    var readsAhead: Bool { pager.readsAhead }
    mutating func readAhead(_ item: PagedSpan) { ahead.add(item.keyset.id); pager.readAhead(item) }
    mutating func endReadAhead(failed: Bool) { ahead.add(failed ? "failed" : "end"); pager.endReadAhead(failed: failed) }
    mutating func nextAhead() -> Batcher<PagedSpan>.Ahead? { pager.nextAhead() }
}

/// Pages of `rows` after a keyset; fails the `failOpen`-th query and the read of `failRead`.
private struct FakeRows: RowSource {
    let rows: [Keyset]
    let pageSize: Int
    var failOpen: Int?
    var failRead: String?
    /// Told of each row about to be read (the test's hook into the pass: open a gate, stop).
    var reading: @Sendable (String) -> Void = { _ in }
    let journal: Journal
    private var opens = 0
    private var page: [Keyset] = []
    private var index = 0
    private(set) var isOpen = false

    init(rows: [Keyset], pageSize: Int, journal: Journal) {
        self.rows = rows
        self.pageSize = pageSize
        self.journal = journal
    }

    mutating func open(_ query: (after: Keyset, until: Int64)) throws(BridgeError) {
        close()
        opens += 1
        journal.add("query \(opens)")
        if opens == failOpen { throw BridgeError(.query, "query \(opens) failed", pipeline: "gen_ai_traces") }
        page = Array(rows.filter { ($0.time, $0.id) > (query.after.time, query.after.id) && $0.time < query.until }.prefix(pageSize))
        index = 0
        isOpen = true
    }

    mutating func next() throws(BridgeError) -> Keyset? {
        guard index < page.count else {
            close()
            return nil
        }
        let k = page[index]
        reading(k.id)
        if k.id == failRead { throw BridgeError(.query, "the read of row \(k.id) failed", pipeline: "gen_ai_traces") }
        index += 1
        return k
    }

    mutating func close() {
        isOpen = false
        page = []
    }
}

/// A row's span: its id's bytes. Fails on `failAt`.
private struct FakeItems: ItemWriter {
    var failAt: String?
    func write(_ row: Keyset, notes: inout PassSummary) throws(BridgeError) -> PagedSpan {
        if row.id == failAt { throw BridgeError(.export, "cannot encode the span of row \(row.id)", pipeline: "gen_ai_traces") }
        return PagedSpan(span: EncodedSpan(bytes: Array(row.id.utf8)), keyset: row)
    }
}

/// The calling thread, as the sends and the ledger write it down (by thread id: a thread's name as
/// Foundation reports it on Linux is not always the one it was given).
private func threadID() -> String { String(UInt(bitPattern: Int(bitPattern: pthread_self()))) }

/// The thread of `worker`, asked of the worker itself.
private func workerID(_ worker: PassWorker) -> String {
    (try? worker.submit { () throws(BridgeError) -> String in threadID() }.wait()) ?? "no worker thread"
}

/// Records each request and the thread that sent it; the first send waits on `gate`; fails the
/// `failAt`-th send; the `retryAt`-th send waits for a retry once (tells `willRetry`) and then
/// succeeds.
private final class FakeSink: RequestSink {
    let sent = Mutex<[[EncodedSpan]]>([])
    let threads = Journal()
    let failAt: Int?
    let retryAt: Int?
    let rejectAt: Int?
    let gate: Gate?
    let released = Mutex<Bool?>(nil)
    /// Where the sends are written down with the ledger's steps, when given.
    let books: Journal?

    init(failAt: Int? = nil, retryAt: Int? = nil, rejectAt: Int? = nil, gate: Gate? = nil, books: Journal? = nil) {
        self.failAt = failAt
        self.retryAt = retryAt
        self.rejectAt = rejectAt
        self.gate = gate
        self.books = books
    }

    func attemptBound(for spans: [EncodedSpan]) -> Duration { .seconds(10) }

    func send(_ spans: [EncodedSpan], willRetry: () -> Void) throws(BridgeError) -> ExportAcknowledgement {
        threads.add(threadID())
        let n = sent.withLock { $0.count } + 1
        books?.add("send \(n)")
        if n == 1, let gate { released.withLock { $0 = gate.pass() } }
        if n == retryAt { willRetry() }
        if n == failAt { throw BridgeError(.export, "send \(n) refused", pipeline: "gen_ai_traces") }
        sent.withLock { $0.append(spans) }
        return n == rejectAt ? ExportAcknowledgement(rejected: 1) : ExportAcknowledgement()
    }

    var requests: [[String]] { sent.withLock { $0.map { $0.map { String(decoding: $0.bytes, as: UTF8.self) } } } }
}

/// The books in memory: the keyset watermark and the commits; fails the `failAt`-th commit.
private final class FakeLedger: PassLedger {
    private struct State {
        var watermark: (time: Int64, id: String?)
        var commits: [BatchCommit] = []
        var attempts = 0
        var failAt: Int?
        var stages = 0
        var failStageAt: Int?
    }

    private let state: Mutex<State>
    /// Stages, abandons and commits, in order, with the sink's sends when it shares the journal.
    let books: Journal

    init(watermark: Int64, books: Journal = Journal()) {
        state = Mutex(State(watermark: (watermark, nil)))
        self.books = books
    }

    func stage(_ batch: BatchCommit, holdFor: Duration) throws {
        books.add("stage")
        try state.withLock { s in
            s.stages += 1
            if s.stages == s.failStageAt { throw BridgeError(.checkpoint, "the pipeline's lock is no longer held") }
        }
    }
    func abandonStage() { books.add("abandon") }
    /// Signalled at each commit that succeeds.
    let committed = DispatchSemaphore(value: 0)

    var watermark: (time: Int64, id: String?) { state.withLock { $0.watermark } }
    var commits: [BatchCommit] { state.withLock { $0.commits } }
    func failCommit(at n: Int?) { state.withLock { $0.failAt = n; $0.attempts = 0 } }
    func failStage(at n: Int?) { state.withLock { $0.failStageAt = n; $0.stages = 0 } }

    func lock(pipeline: String) throws -> Bool { true }
    func unlock(pipeline: String) {}
    func recordSkipped(pipeline: String, reason: String) throws {}
    func watermark(pipeline: String, initial: UTCInstant) throws -> UTCInstant { UTCInstant(unixNanoseconds: watermark.time) }
    func startRun(pipeline: String, windowStart: UTCInstant) throws -> Int64 { 1 }
    func finishRun(_ runID: Int64, status: RunStatus, error: String?) throws {}
    func expireSeries(pipeline: String, idleBefore: UTCInstant) throws -> Int { 0 }
    func series(pipeline: String, watermark: Int64) -> any SeriesStateSource { NoSeries() }
    func commit(_ batch: BatchCommit) throws {
        books.add("commit")
        try state.withLock { s in
            s.attempts += 1
            if s.attempts == s.failAt { throw BridgeError(.checkpoint, "commit \(s.attempts) failed") }
            s.commits.append(batch)
            s.watermark = (batch.watermark.unixNanoseconds, batch.watermarkID ?? s.watermark.id)
        }
        committed.signal()
    }
    func bucketDigests(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: String] { [:] }
    func recordLateBuckets(pipeline: String, runID: Int64, digests: [BucketDigestRecord]) throws {}
    func exportedBuckets(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: BucketDigestRecord] { [:] }
}

private struct NoSeries: SeriesStateSource {
    func counts() throws -> [String: Int] { [:] }
    func load(metric: String, ids: [String]) throws -> [SeriesState] { [] }
    func ids(metric: String) throws -> Set<String> { [] }
}

/// What one pass did.
private struct Outcome: Equatable {
    var events: [String]
    var requests: [[String]]
    var commits: [String]
    var error: String?
    var watermarkAfter: Int64
    var exported: Int64
}

/// The faults of one pass.
struct Faults: Sendable {
    var failOpen: Int?
    var failRead: String?
    var failEncode: String?
    var failSend: Int?
    var failCommit: Int?
    /// The stage (the lock's confirmation before a send) that fails.
    var failStage: Int?
    var retrySend: Int?
    /// The send whose acknowledgement rejects one span (`partial_success`).
    var rejectAt: Int?
}

/// Runs one pass over rows `0..<rowCount` from `ledger`'s watermark: requests of at most
/// `spans` spans, pages of `page` rows; with a worker (overlap) or without (sequential).
private func pass(rowCount: Int = 10, spans: Int = 3, page: Int = 100, faults: Faults = Faults(), ledger: FakeLedger,
                  worker: PassWorker?, stop: StopSignal? = nil, gate: Gate? = nil,
                  reading: @escaping @Sendable (String) -> Void = { _ in }) -> (outcome: Outcome, ahead: [String], sink: FakeSink, journal: Journal) {
    let events = Journal(), ahead = Journal(), journal = Journal()
    let stored = ledger.watermark
    var machine = RecordingMachine(
        pager: TracePager(settings: TracePager.Settings(pipeline: "gen_ai_traces", runID: 1, pageSize: page, maxSpansPerRequest: spans, requestBudget: 1_000),
                          watermark: stored, until: t0 + 1_000 * ms),
        events: events, ahead: ahead)
    var source = FakeRows(rows: (0..<rowCount).map(row), pageSize: page, journal: journal)
    source.failOpen = faults.failOpen
    source.failRead = faults.failRead
    source.reading = reading
    let sink = FakeSink(failAt: faults.failSend, retryAt: faults.retrySend, rejectAt: faults.rejectAt, gate: gate, books: ledger.books)
    ledger.failCommit(at: faults.failCommit)
    ledger.failStage(at: faults.failStage)
    var runner = PassRunner<RecordingMachine, FakeRows, FakeItems, FakeSink>(
        pipeline: "gen_ai_traces", source: source, writer: FakeItems(failAt: faults.failEncode), sink: sink, ledger: ledger,
        worker: worker, stop: stop, logger: Logger(label: "test"))
    var summary = PassSummary(pipeline: "gen_ai_traces", status: .ok, watermarkBefore: stored.time, watermarkAfter: stored.time)
    var failure: String?
    do {
        try runner.run(&machine, summary: &summary) { (action, _, _, _) throws(BridgeError) -> TracePager.Action in
            Issue.record("the pager has no action of its own: \(action)")
            return .finish
        }
    } catch {
        failure = "\(error)"
        events.add("failed")
    }
    let outcome = Outcome(events: events.all, requests: sink.requests, commits: ledger.commits.map { $0.watermarkID ?? "-" }, error: failure,
                          watermarkAfter: summary.watermarkAfter, exported: summary.pointsExported)
    return (outcome, ahead.all, sink, journal)
}

@Suite("PassRunner: one pass over fakes, with and without overlap")
struct PassRunnerTests {
    @Test("a send blocked on the worker while the runner reads ahead; the machine sees the sequential pass's events")
    func overlap() {
        let sequential = pass(ledger: FakeLedger(watermark: t0), worker: nil)
        #expect(sequential.outcome.requests == [["00", "01", "02"], ["03", "04", "05"], ["06", "07", "08"], ["09"]])
        #expect(sequential.outcome.commits == ["02", "05", "08", "09"])
        #expect(sequential.ahead.isEmpty)

        // The first send waits until the runner reads row 04, which it only reads ahead (the
        // batch [00, 01, 02] is in flight until the send returns): no read-ahead, no release.
        let gate = Gate()
        let worker = PassWorker(name: "test-io")
        defer { worker.close() }
        let overlapped = pass(ledger: FakeLedger(watermark: t0), worker: worker, gate: gate, reading: { id in if id == "04" { gate.open() } })
        #expect(overlapped.sink.released.withLock { $0 } == true, "the send was released by a read made while it was blocked")
        #expect(overlapped.ahead.starts(with: ["04"]))
        #expect(overlapped.outcome == sequential.outcome)
        #expect(overlapped.sink.threads.all == Array(repeating: workerID(worker), count: 4), "sends run on the pass's worker")
    }

    @Test("commits, and the lock's confirmation that begins each commit before its send, run on the worker too")
    func commitsOnTheWorker() {
        let worker = PassWorker(name: "test-io")
        defer { worker.close() }
        let threads = Journal()
        final class ThreadLedger: PassLedger, Sendable {
            let inner: FakeLedger
            let threads: Journal
            init(_ inner: FakeLedger, _ threads: Journal) { self.inner = inner; self.threads = threads }
            func lock(pipeline: String) throws -> Bool { true }
            func unlock(pipeline: String) {}
            func recordSkipped(pipeline: String, reason: String) throws {}
            func watermark(pipeline: String, initial: UTCInstant) throws -> UTCInstant { initial }
            func startRun(pipeline: String, windowStart: UTCInstant) throws -> Int64 { 1 }
            func finishRun(_ runID: Int64, status: RunStatus, error: String?) throws {}
            func expireSeries(pipeline: String, idleBefore: UTCInstant) throws -> Int { 0 }
            func series(pipeline: String, watermark: Int64) -> any SeriesStateSource { NoSeries() }
            func stage(_ batch: BatchCommit, holdFor: Duration) throws { threads.add("confirm " + threadID()) }
            func commit(_ batch: BatchCommit) throws { threads.add("commit " + threadID()); try inner.commit(batch) }
            func bucketDigests(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: String] { [:] }
            func recordLateBuckets(pipeline: String, runID: Int64, digests: [BucketDigestRecord]) throws {}
            func exportedBuckets(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: BucketDigestRecord] { [:] }
        }
        let inner = FakeLedger(watermark: t0)
        let ledger = ThreadLedger(inner, threads)
        var machine = RecordingMachine(
            pager: TracePager(settings: TracePager.Settings(pipeline: "gen_ai_traces", runID: 1, pageSize: 100, maxSpansPerRequest: 3, requestBudget: 1_000),
                              watermark: (t0, nil), until: t0 + 1_000 * ms),
            events: Journal(), ahead: Journal())
        var runner = PassRunner<RecordingMachine, FakeRows, FakeItems, FakeSink>(
            pipeline: "gen_ai_traces", source: FakeRows(rows: (0..<5).map(row), pageSize: 100, journal: Journal()), writer: FakeItems(),
            sink: FakeSink(books: threads), ledger: ledger, worker: worker, stop: nil, logger: Logger(label: "test"))
        var summary = PassSummary(pipeline: "gen_ai_traces", status: .ok, watermarkBefore: t0, watermarkAfter: t0)
        do {
            try runner.run(&machine, summary: &summary) { (_, _, _, _) throws(BridgeError) in .finish }
        } catch {
            Issue.record("\(error)")
        }
        #expect(inner.commits.map(\.watermarkID) == ["02", "04"])
        let onWorker = workerID(worker)
        // The pass's thread reads ahead meanwhile: it never waits for the store's answer.
        #expect(threads.all == ["confirm " + onWorker, "send 1", "commit " + onWorker, "confirm " + onWorker, "send 2", "commit " + onWorker],
                "each send follows a confirmation of the lock, on the worker")
    }

    /// A failure at every step ends the pass where it stands, what was committed stays, and the
    /// overlapped pass ends exactly as the sequential one.
    @Test("a failure at every step", arguments: [
        ("query", Faults(failOpen: 2)),
        ("read mid-stream", Faults(failRead: "05")),
        ("encode", Faults(failEncode: "05")),
        ("send", Faults(failSend: 2)),
        ("commit", Faults(failCommit: 2)),
        ("lock lost before a send", Faults(failStage: 2)),
    ])
    func failure(step: String, faults: Faults) {
        // Pages of 4 rows, requests of 3: the second query opens after a batch is committed.
        let sequential = pass(page: 4, faults: faults, ledger: FakeLedger(watermark: t0), worker: nil)
        let worker = PassWorker(name: "test-io")
        defer { worker.close() }
        let overlapped = pass(page: 4, faults: faults, ledger: FakeLedger(watermark: t0), worker: worker)
        #expect(overlapped.outcome == sequential.outcome, "\(step)")
        let o = sequential.outcome
        #expect(o.error != nil, "\(step)")
        #expect(o.events.last == "failed")
        // Only the first batch [00, 01, 02] is committed, and the summary says so.
        #expect(o.commits == ["02"], "\(step)")
        #expect(o.watermarkAfter == row(2).time && o.exported == 3, "\(step)")
        switch step {
        case "send": #expect(o.requests.count == 1)
        case "commit": #expect(o.requests.count == 2, "the second batch was sent, not committed")
        case "lock lost before a send":
            #expect(o.requests == [["00", "01", "02"]], "the second batch is not sent")
            #expect(o.error?.contains("before sending a batch") == true)
        default: #expect(o.requests == [["00", "01", "02"]])
        }
    }

    @Test("a read that fails while a batch is in flight is reported after that batch is acknowledged and committed")
    func readFailingAhead() {
        let gate = Gate()
        let worker = PassWorker(name: "test-io")
        defer { worker.close() }
        // The send of [00, 01, 02] waits until the read of 04 is attempted, and that read fails.
        let r = pass(faults: Faults(failRead: "04"), ledger: FakeLedger(watermark: t0), worker: worker, gate: gate,
                     reading: { id in if id == "04" { gate.open() } })
        #expect(r.sink.released.withLock { $0 } == true)
        #expect(r.ahead == ["failed"], "the read failed while reading ahead")
        #expect(r.outcome.commits == ["02"])
        #expect(Array(r.outcome.events.suffix(4)) == ["read 03", "acknowledged", "committed", "failed"])
        #expect(r.outcome.error?.contains("the read of row 04 failed") == true)
    }

    @Test("stopped before a query: nothing is queried")
    func stopBeforeQuery() {
        let stop = StopSignal()
        stop.stop()
        let r = pass(ledger: FakeLedger(watermark: t0), worker: nil, stop: stop)
        #expect(r.journal.all.isEmpty)
        #expect(r.outcome.requests.isEmpty && r.outcome.commits.isEmpty && r.outcome.error == nil)
        #expect(r.outcome.watermarkAfter == t0)
    }

    @Test("stopped before a delivery: nothing more is sent, what was committed stays", arguments: [false, true])
    func stopBeforeDelivery(overlap: Bool) {
        let stop = StopSignal()
        let worker = overlap ? PassWorker(name: "test-io") : nil
        defer { worker?.close() }
        // Reading 04 (ahead of the first batch's commit, or after it) stops the pass: the first
        // batch is sent and committed, the second [03, 04, 05] never sent.
        let r = pass(ledger: FakeLedger(watermark: t0), worker: worker, stop: stop, reading: { id in if id == "04" { stop.stop() } })
        #expect(r.outcome.requests == [["00", "01", "02"]])
        #expect(r.outcome.commits == ["02"])
        #expect(r.outcome.error == nil)
        #expect(r.outcome.watermarkAfter == row(2).time)
        // And a stop before the first delivery sends nothing.
        let early = StopSignal()
        let r2 = pass(ledger: FakeLedger(watermark: t0), worker: worker, stop: early, reading: { id in if id == "03" { early.stop() } })
        #expect(r2.outcome.requests.isEmpty && r2.outcome.commits.isEmpty)
        #expect(r2.journal.all == ["query 1"])
    }

    @Test("a crash between send and commit: the next pass sends the same batch again and commits it once", arguments: [false, true])
    func crashBetweenSendAndCommit(overlap: Bool) {
        let worker = overlap ? PassWorker(name: "test-io") : nil
        defer { worker?.close() }
        let ledger = FakeLedger(watermark: t0)
        // The first commit fails after its batch was acknowledged: as if the process died there.
        let crashed = pass(faults: Faults(failCommit: 1), ledger: ledger, worker: worker)
        #expect(crashed.outcome.requests == [["00", "01", "02"]])
        #expect(ledger.commits.isEmpty)
        #expect(crashed.outcome.watermarkAfter == t0)
        let next = pass(ledger: ledger, worker: worker)
        #expect(next.sink.sent.withLock { $0.first } == crashed.sink.sent.withLock { $0.first }, "the same bytes again")
        #expect(ledger.commits.map(\.watermarkID) == ["02", "05", "08", "09"])
        #expect(ledger.commits.filter { $0.watermarkID == "02" }.count == 1)
        #expect(ledger.commits.reduce(0) { $0 + $1.pointsExported } == 10)
    }

    /// A batch's commit begins with its delivery (the store writes its series while the request is
    /// in flight) and goes on after the acknowledgement; a delivery that fails, or waits to retry,
    /// rolls it back first. With overlap or without, the same steps in the same order.
    @Test("the commit begun with the delivery: staged before each send, rolled back when a send fails or waits to retry",
          arguments: [false, true])
    func stagedCommits(overlap: Bool) {
        let worker = overlap ? PassWorker(name: "test-io") : nil
        defer { worker?.close() }
        let ok = FakeLedger(watermark: t0)
        _ = pass(rowCount: 6, ledger: ok, worker: worker)
        #expect(ok.books.all == ["stage", "send 1", "commit", "stage", "send 2", "commit"])

        let retried = FakeLedger(watermark: t0)
        _ = pass(rowCount: 6, faults: Faults(retrySend: 2), ledger: retried, worker: worker)
        #expect(retried.books.all == ["stage", "send 1", "commit", "stage", "send 2", "abandon", "commit"])
        #expect(retried.commits.map(\.watermarkID) == ["02", "05"])

        let failed = FakeLedger(watermark: t0)
        let r = pass(rowCount: 6, faults: Faults(failSend: 2), ledger: failed, worker: worker)
        #expect(failed.books.all == ["stage", "send 1", "commit", "stage", "send 2", "abandon"])
        #expect(r.outcome.error?.contains("send 2 refused") == true)
        #expect(failed.commits.map(\.watermarkID) == ["02"])
    }

    /// The commit of an acknowledged batch follows the acknowledgement on the worker, in the
    /// delivery's job: a read held up meanwhile (a stalled result) holds up neither the commit nor
    /// its transaction, begun with the delivery. By construction: the read of 04 opens the first
    /// send's gate and then waits until the ledger has committed that batch, which it could not
    /// if the commit needed this thread (the wait gives up after a minute and the test fails).
    @Test("a read held up while a batch is delivered does not hold up that batch's commit")
    func commitDoesNotWaitForTheReader() {
        let gate = Gate()
        let worker = PassWorker(name: "test-io")
        defer { worker.close() }
        let ledger = FakeLedger(watermark: t0)
        let committedWhileHeld = Mutex<Bool?>(nil)
        let r = pass(rowCount: 6, ledger: ledger, worker: worker, gate: gate, reading: { id in
            guard id == "04" else { return }
            gate.open()
            committedWhileHeld.withLock { $0 = ledger.committed.wait(timeout: .now() + .seconds(60)) == .success }
        })
        #expect(r.sink.released.withLock { $0 } == true)
        #expect(committedWhileHeld.withLock { $0 } == true, "the worker committed the first batch while the read was held up")
        #expect(ledger.books.all == ["stage", "send 1", "commit", "stage", "send 2", "commit"])
        #expect(ledger.commits.map(\.watermarkID) == ["02", "05"])
        #expect(r.outcome.error == nil)
    }

    /// What the receiver rejected (`partial_success`) goes into the commit the worker makes, and the
    /// machine sees the same acknowledgement.
    @Test("a partial success is committed with its rejected count and message", arguments: [false, true])
    func partialSuccessCommitted(overlap: Bool) {
        let worker = overlap ? PassWorker(name: "test-io") : nil
        defer { worker?.close() }
        let ledger = FakeLedger(watermark: t0)
        let r = pass(rowCount: 6, faults: Faults(rejectAt: 2), ledger: ledger, worker: worker)
        #expect(r.outcome.error == nil)
        #expect(ledger.commits.map(\.pointsRejected) == [0, 1])
        #expect(ledger.commits.map(\.rejectionMessage) == [nil, "1 spans rejected"])
        #expect(ledger.commits.map(\.pointsExported) == [3, 3])
    }
}

@Suite("PassWorker")
struct PassWorkerTests {
    @Test("jobs run one after another on the worker's one thread, in the order they were submitted")
    func jobsInOrder() throws {
        let worker = PassWorker(name: "test-order")
        defer { worker.close() }
        let ran = Journal()
        let jobs = (0..<20).map { n in worker.submit { () throws(BridgeError) -> String in ran.add("\(n)"); return threadID() } }
        let threads = try jobs.map { try $0.wait() }
        #expect(ran.all == (0..<20).map { "\($0)" })
        #expect(Set(threads).count == 1 && threads.first != threadID())
    }
}
