import Checkpoints
import OTLP
import Rollup
import UTCTime

/// The decisions of one pass of the GenAI traces pipeline, apart from their effects, in the
/// manner of the rollups' `PassMachine`.
///
/// Rows are read in the total order `(created_at, id)`, page after page, each page the rows after
/// a keyset and older than `until` (now − lag), at most `pageSize` of them. Their spans join a
/// batch until the next would take it past `maxSpansPerRequest` or the request budget in bytes;
/// then the batch is delivered as one request and, once acknowledged, committed with the keyset
/// of its last row as the watermark. A batch goes on across page boundaries; a page shorter than
/// `pageSize` is the last, and the rest is delivered then. Because the
/// next page starts after the last row read, not at a time, rows sharing a millisecond across a
/// page boundary are neither skipped nor repeated.
///
/// The batches are cut by its ``Batcher`` (which also decides the read-ahead); the pass runner
/// (`Sources/Bridge/PassRunner.swift`, with the traces adapter) carries the actions out and reports back.
/// A failure of any action ends the pass where it stands: what was committed stays.
/// A row's span and the row's keyset: what the pager batches.
package struct PagedSpan: BatchItem, Equatable {
    package var span: EncodedSpan
    package var keyset: Keyset

    package init(span: EncodedSpan, keyset: Keyset) {
        self.span = span
        self.keyset = keyset
    }

    package var itemCount: Int { 1 }
    package var byteCount: Int { span.byteCount }
}

package struct TracePager: Sendable {
    package struct Settings: Sendable, Equatable {
        package var pipeline: String
        package var runID: Int64
        package var pageSize: Int
        package var maxSpansPerRequest: Int
        /// The bytes of spans one request may hold: `max_request_bytes` less the request's framing.
        package var requestBudget: Int

        package init(pipeline: String, runID: Int64, pageSize: Int, maxSpansPerRequest: Int, requestBudget: Int) {
            self.pipeline = pipeline
            self.runID = runID
            self.pageSize = pageSize
            self.maxSpansPerRequest = maxSpansPerRequest
            self.requestBudget = requestBudget
        }
    }

    package enum Action: Sendable, Equatable {
        /// Query the page of rows after `after` and before `until`; ``read(_:keyset:)`` each row's
        /// span, then ``endOfPage()``.
        case query(after: Keyset, until: Int64)
        /// Read the next row of the open page.
        case read
        /// Send these spans as one request; once acknowledged: ``acknowledged(_:)``.
        case deliver([EncodedSpan])
        /// Commit this; then ``committed()``.
        case commit(BatchCommit)
        case finish
    }

    /// What a batch is made of, as its rejections are reported.
    package static let unit = "spans"

    package let settings: Settings
    /// Rows before this are exported (now − lag).
    package let until: Int64
    /// The keyset the pass started from.
    package let startKeyset: Keyset
    /// The last committed row's keyset.
    package private(set) var keyset: Keyset
    package private(set) var spansExported: Int64 = 0
    package private(set) var spansRejected: Int64 = 0
    package private(set) var batches = 0
    package private(set) var pages = 0

    /// The stored watermark, as it is in the checkpoint store (an id only once a row was committed).
    private let stored: (time: Int64, id: String?)
    /// Pending spans, the batch in flight, and the spans read ahead meanwhile.
    package private(set) var batcher: Batcher<PagedSpan>
    private var rowsInPage = 0
    /// The last row read (committed or not): where the next page starts.
    private var lastRead: Keyset
    /// The batch in flight: the keyset it commits (none: the empty pass's record) and its acknowledgement.
    private var inFlight: (upTo: Keyset?, ack: ExportAcknowledgement)?
    /// What the batch being delivered commits once acknowledged (``BatchCommit/acknowledged(by:unit:)``):
    /// the runner commits it on its worker as soon as the receiver answers.
    package private(set) var commitInFlight: BatchCommit?
    private var resume: Resume = .read

    private enum Resume { case read, finish }

    /// - Parameters:
    ///   - watermark: the stored watermark: a time and, once a row was committed, its id
    ///     (without an id: every row at or after the time is still to be exported).
    ///   - until: now − lag; rows at or after it wait for a later pass.
    package init(settings: Settings, watermark: (time: Int64, id: String?), until: Int64) {
        self.settings = settings
        self.batcher = Batcher(limits: Batcher.Limits(maxItems: settings.maxSpansPerRequest, byteBudget: settings.requestBudget))
        self.until = until
        self.stored = watermark
        let start = watermark.id.map { Keyset(time: watermark.time, id: $0) } ?? Keyset.before(watermark.time)
        self.startKeyset = start
        self.keyset = start
        self.lastRead = start
    }

    // MARK: - Events

    package mutating func start() -> Action {
        pages += 1
        return .query(after: keyset, until: until)
    }

    /// The span of the next row of the open page (in keyset order) and the row's keyset.
    package mutating func read(_ span: EncodedSpan, keyset row: Keyset) -> Action {
        read(PagedSpan(span: span, keyset: row))
    }

    /// The next row's span and keyset, in keyset order.
    package mutating func read(_ item: PagedSpan) -> Action {
        precondition(inFlight == nil, "read while a batch is in flight")
        var action = Action.read
        if batcher.cuts(before: item) {
            action = flush(then: .read)
        }
        batcher.add(item)
        lastRead = item.keyset
        rowsInPage += 1
        return action
    }

    /// The open page has no more rows.
    package mutating func endOfPage() -> Action {
        precondition(inFlight == nil, "end of page while a batch is in flight")
        let full = rowsInPage >= settings.pageSize
        rowsInPage = 0
        if batcher.pendingItems == 0 && spansExported == 0 && batches == 0 && !full && lastRead == startKeyset {
            // Nothing new: record that the pass looked (the watermark stays as it is).
            var commit = BatchCommit(pipeline: settings.pipeline, runID: settings.runID, watermark: UTCInstant(unixNanoseconds: stored.time))
            commit.watermarkID = stored.id
            commit.requireLock = true
            _ = batcher.send()
            inFlight = (nil, ExportAcknowledgement())
            resume = .finish
            return .commit(commit)
        }
        if full {
            // The batch goes on across the page boundary: the next page starts after the last row read.
            pages += 1
            return .query(after: lastRead, until: until)
        }
        return flush(then: .finish)
    }

    package mutating func acknowledged(_ ack: ExportAcknowledgement) -> Action {
        guard inFlight != nil, let commit = commitInFlight else { preconditionFailure("acknowledged without a delivery") }
        batches += 1
        inFlight!.ack = ack
        return .commit(commit.acknowledged(by: ack, unit: Self.unit))
    }

    package mutating func committed() -> Action {
        guard let flight = inFlight else { preconditionFailure("committed without a commit") }
        inFlight = nil
        commitInFlight = nil
        spansExported += Int64(batcher.committed().count)
        spansRejected += flight.ack.rejected
        if let upTo = flight.upTo { keyset = upTo }
        return next()
    }

    // MARK: - Read-ahead (the batcher's)

    /// Whether the runner may read the next row now, while a batch is in flight.
    package var readsAhead: Bool { batcher.readsAhead }
    /// A row's span read while a batch is in flight; ``nextAhead()`` hands it back once it is committed.
    package mutating func readAhead(_ item: PagedSpan) { batcher.readAhead(item) }
    /// The open page ended (or failed) while reading ahead.
    package mutating func endReadAhead(failed: Bool) { batcher.endReadAhead(failed: failed) }
    /// What was read ahead, in order; `nil` when nothing was.
    package mutating func nextAhead() -> Batcher<PagedSpan>.Ahead? { batcher.nextAhead() }

    // MARK: - Decisions

    private mutating func flush(then: Resume) -> Action {
        resume = then
        guard batcher.pendingItems > 0 else { return next() }
        let batch = batcher.send()
        let upTo = batch.last!.keyset
        inFlight = (upTo, ExportAcknowledgement())
        var commit = BatchCommit(pipeline: settings.pipeline, runID: settings.runID, watermark: UTCInstant(unixNanoseconds: upTo.time))
        commit.watermarkID = upTo.id
        commit.requireLock = true
        commit.rowsRead = Int64(batch.count)
        commit.pointsExported = Int64(batch.count)
        commitInFlight = commit
        return .deliver(batch.map(\.span))
    }

    private mutating func next() -> Action {
        switch resume {
        case .read: return .read
        case .finish: return .finish
        }
    }
}
