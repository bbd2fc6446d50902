import Checkpoints
import OTLP
import UTCTime

/// A bucket read from the result, aggregated and encoded, that the pass has not delivered yet.
package struct ReadBucket: Sendable, Equatable {
    package var start: Int64
    /// Result rows it was read from.
    package var rows: Int
    /// Its points, encoded once; several parts only when it is larger than one request.
    package var parts: [EncodedPoints]
    /// The digest of its rows, for the late-data check.
    package var digest: BucketDigest
    /// Series aggregated into an overflow series.
    package var overflowed: Int
    /// Cumulative series it changed, as they are after it, and the pass's names of them.
    package var changes: [SeriesChange]
    package var directory: SeriesDirectory?
    /// With `late_data: fold`, its series' own values (``LateFold/encode(_:gauges:)``), stored
    /// with its digest as the baseline late rows are measured against.
    package var exported: String?

    package init(start: Int64, rows: Int, parts: [EncodedPoints], digest: BucketDigest = BucketDigest(), overflowed: Int = 0,
                 changes: [SeriesChange] = [], directory: SeriesDirectory? = nil, exported: String? = nil) {
        self.start = start
        self.rows = rows
        self.parts = parts
        self.digest = digest
        self.overflowed = overflowed
        self.changes = changes
        self.directory = directory
        self.exported = exported
    }

    package var points: Int { parts.reduce(0) { $0 + $1.pointCount } }
    package var bytes: Int { parts.reduce(0) { $0 + $1.byteCount } }
}

extension ReadBucket: BatchItem {
    package var itemCount: Int { points }
    package var byteCount: Int { bytes }
}

/// The decisions of one pass of one rollup pipeline, apart from their effects.
///
/// Given the watermark and now, and told what was read, acknowledged and committed, it says what
/// to do next as an ``Action``; the pass runner (`Sources/Bridge/PassRunner.swift`) carries the
/// actions out against ClickHouse, the sink and the checkpoint store and reports back. Nothing
/// here does I/O, so every decision is tested without a network (`PassMachineTests`):
///
/// 1. Chunks: `[watermark, last closed bucket end)` cut into queries of at most
///    `max_buckets_per_query` buckets (``WindowPlanner``). No closed bucket: the empty window is
///    committed, so the run records that it looked.
/// 2. Batches (cut by its ``Batcher``, which also decides the read-ahead): read buckets join the
///    pending batch until the next one would take it past
///    `max_points_per_request` points or the request budget in bytes; then the batch is delivered
///    (whole buckets, one request; a lone bucket larger than a request goes as several) and, once
///    acknowledged, committed with the watermark at the next bucket's start. At a chunk's end the
///    rest is delivered and the watermark moves to the chunk's end, empty buckets included.
/// 3. A commit is one ``BatchCommit``: the watermark, the run's counters, the latest state of
///    every cumulative series the batch changed, and the digests of its recent buckets.
/// 4. Late data: with `late_data_check`, buckets exported by earlier passes within the check are
///    read again and compared with their stored digests. `late_data: fold` (the default) does it
///    at the start of a pass that has a new bucket to export: the differences per series go into
///    the pass's first bucket (``LateFold``), and the first commit carries the re-read buckets'
///    new digests and values, so a crash before it folds the same rows again and a row is folded
///    once. `late_data: report` does it at the end of the pass: changed buckets are recorded, not
///    re-sent.
///
/// 5. Maximum point age: with `max_point_age`, buckets ending before now minus it are not sent.
///    They are read for their counts first (``Action/readOld(windows:fold:)``); the first commit
///    moves the watermark past them and records the gap (``GapRecord``); `too_old: fold` carries
///    their values into the first bucket sent.
///
/// A failure of any action ends the pass where it stands: what was committed stays.
package struct PassMachine: Sendable {
    package struct Settings: Sendable, Equatable {
        package var pipeline: String
        /// The run record that commits count into.
        package var runID: Int64
        package var planner: WindowPlanner
        package var maxPointsPerRequest: Int
        /// The bytes of points one request may hold: `max_request_bytes` less the request's framing.
        package var requestBudget: Int
        /// `late_data_check` in seconds; 0 records no digests and checks nothing.
        package var lateDataCheckSeconds: Int64
        /// Identifies the pipeline's definition in stored digests (``BucketDigest/fingerprint(of:)``).
        package var fingerprint: String
        /// `late_data: fold`: late rows go into the export (else they are only reported).
        package var foldLateData: Bool
        /// `max_point_age` in seconds (0: off): buckets ending before now minus this are not sent.
        package var maxPointAgeSeconds: Int64 = 0
        /// `too_old: fold`: the values of buckets not sent go into the first point sent.
        package var foldTooOld = false

        package init(pipeline: String, runID: Int64, planner: WindowPlanner, maxPointsPerRequest: Int, requestBudget: Int,
                     lateDataCheckSeconds: Int64 = 0, fingerprint: String = "", foldLateData: Bool = false) {
            self.foldLateData = foldLateData
            self.pipeline = pipeline
            self.runID = runID
            self.planner = planner
            self.maxPointsPerRequest = maxPointsPerRequest
            self.requestBudget = requestBudget
            self.lateDataCheckSeconds = lateDataCheckSeconds
            self.fingerprint = fingerprint
        }
    }

    package enum Action: Sendable, Equatable {
        /// Query this window and read its buckets in order: ``read(_:)`` each, then ``endOfChunk()``.
        case query(TimeWindow)
        /// Read the next bucket of the open query (``read(_:)``, or ``endOfChunk()`` when there is none).
        case read
        /// Send these requests in order; once every one is acknowledged: ``acknowledged(_:)``.
        case deliver([[EncodedPoints]])
        /// Commit this; then ``committed()``.
        case commit(BatchCommit)
        /// Load the digests stored for the buckets in `[from, to)`; then ``digestsLoaded(_:)``.
        case loadDigests(from: Int64, to: Int64)
        /// Read these windows again for their buckets' digests only; then ``digestsRead(_:)``.
        case readDigests([TimeWindow])
        /// Record these buckets as changed after their export (new digests); then ``recorded()``.
        case recordLateBuckets([BucketDigestRecord])
        /// `late_data: fold`: load the stored records of the buckets in `[from, to)`, read
        /// `windows` again, and carry each series' difference into the first bucket of the pass
        /// (``LateFold``); then ``lateFolded(_:)``.
        case foldLate(from: Int64, to: Int64, windows: [TimeWindow])
        /// `max_point_age`: read `windows` (the buckets too old to send) for their counts, and
        /// with `fold` carry their values into the first bucket sent; then ``oldRead(rows:points:)``.
        case readOld(windows: [TimeWindow], fold: Bool)
        /// The pass is done.
        case finish
    }

    /// What a batch is made of, as its rejections are reported.
    package static let unit = "points"

    package let settings: Settings
    /// The watermark the pass started from.
    package let startWatermark: Int64
    /// The watermark as last committed.
    package private(set) var watermark: Int64
    package private(set) var rowsRead: Int64 = 0
    package private(set) var pointsExported: Int64 = 0
    package private(set) var pointsRejected: Int64 = 0
    /// Deliveries acknowledged.
    package private(set) var batches = 0
    package private(set) var queries = 0
    package private(set) var lateBuckets = 0
    /// Late series differences folded into committed points, and those that could not be.
    package private(set) var lateFolded = 0
    package private(set) var lateUnfolded = 0
    /// What the late-data fold found, until the first commit carries it; then whether that
    /// commit is in flight.
    private var fold: FoldedLate?
    private var foldInFlight = false
    private var gapInFlight = false
    /// Buckets before this are too old to send (`max_point_age`); the pass's start watermark
    /// when none is.
    package let gapEnd: Int64
    /// The gap found, until the first commit records it.
    private var gap: GapRecord?
    /// Points not sent because their buckets were too old, once committed.
    package private(set) var pointsSkipped: Int64 = 0
    /// The first bucket this pass sends: where carried values go.
    package var firstBucketSent: Int64? { chunks.first?.start }

    private let chunks: [TimeWindow]
    private var chunk = 0
    /// Pending buckets, the batch in flight, and the buckets read ahead meanwhile.
    package private(set) var batcher: Batcher<ReadBucket>
    /// The batch in flight (delivered, or committed without points): the watermark it commits and its acknowledgement.
    private var inFlight: (upTo: Int64, ack: ExportAcknowledgement)?
    /// What the batch being delivered commits once acknowledged (``BatchCommit/acknowledged(by:unit:)``),
    /// known before the acknowledgement: the store may begin writing its series (the latest state
    /// of each series its buckets changed) meanwhile, and the runner commits it on its worker as
    /// soon as the receiver answers.
    package private(set) var commitInFlight: BatchCommit?
    /// What follows the commit in flight: more of the open chunk, or the next chunk.
    private var resume: Resume = .read
    /// Buckets starting at or after this are recent enough to carry digests.
    private let digestFrom: Int64
    /// Buckets starting at or after this need their digests read (`.max`: none does).
    package var digestsFrom: Int64 { digestFrom == .max ? .max : settings.planner.alignDown(digestFrom) }
    private var storedDigests: [Int64: String] = [:]

    private enum Resume { case read, nextChunk, lateData }

    package init(settings: Settings, watermark: Int64, now: Int64) {
        self.settings = settings
        self.batcher = Batcher(limits: Batcher.Limits(maxItems: settings.maxPointsPerRequest, byteBudget: settings.requestBudget))
        self.startWatermark = watermark
        self.watermark = watermark
        let planner = settings.planner
        let chunks = planner.chunks(watermark: watermark, now: now)
        var gapEnd = watermark
        if settings.maxPointAgeSeconds > 0, let closed = chunks.last?.end {
            // Buckets ending at or after now - max_point_age are sent: those starting at or
            // after that less a step, aligned up.
            let step = planner.step
            let oldest = now - settings.maxPointAgeSeconds * 1_000_000_000 - step
            let sendFrom = planner.alignDown(oldest) + (planner.isAligned(oldest) ? 0 : step)
            gapEnd = min(max(sendFrom, watermark), closed)
        }
        self.gapEnd = gapEnd
        self.chunks = gapEnd > watermark ? planner.chunks(watermark: gapEnd, now: now) : chunks
        self.digestFrom = settings.lateDataCheckSeconds > 0
            ? planner.alignDown(planner.closedUntil(now: now) - settings.lateDataCheckSeconds * 1_000_000_000)
            : .max
    }

    private var step: Int64 { settings.planner.stepSeconds * 1_000_000_000 }

    /// Closed buckets this pass exports, and how many of them are committed.
    package var bucketsTotal: Int { chunks.last.map { Int(($0.end - startWatermark) / step) } ?? 0 }
    package var bucketsDone: Int { Int((watermark - startWatermark) / step) }

    // MARK: - Events

    /// The first action.
    package mutating func start() -> Action {
        guard !chunks.isEmpty else {
            // Nothing closed since the last pass: record the empty window [watermark, watermark).
            var commit = BatchCommit(pipeline: settings.pipeline, runID: settings.runID, watermark: UTCInstant(unixNanoseconds: watermark))
            commit.requireLock = true
            _ = batcher.send()
            inFlight = (watermark, ExportAcknowledgement())
            resume = .lateData
            return .commit(commit)
        }
        if settings.foldLateData, digestFrom != .max, startWatermark > digestFrom {
            // Late rows go into this pass's first bucket: find them before it is read.
            return .foldLate(from: digestFrom, to: startWatermark, windows: windows(from: digestFrom, to: startWatermark))
        }
        return readOldOrQuery()
    }

    /// What ``Action/foldLate(from:to:windows:)`` found (its carries already handed to the
    /// aggregator); `nil` when the check failed (the pass exports without it).
    package mutating func lateFolded(_ found: FoldedLate?) -> Action {
        if let found, found.buckets > 0 { fold = found }
        return readOldOrQuery()
    }

    /// The buckets too old to send were read: their result rows and the points they would have
    /// been. The first commit records the gap.
    package mutating func oldRead(rows: Int64, points: Int64) -> Action {
        gap = GapRecord(pipeline: settings.pipeline, rangeStart: UTCInstant(unixNanoseconds: startWatermark), rangeEnd: UTCInstant(unixNanoseconds: gapEnd),
                        buckets: (gapEnd - startWatermark) / step, rows: rows, points: points, reason: "max_point_age",
                        policy: settings.foldTooOld ? "fold" : "drop", runID: settings.runID)
        queries += 1
        return .query(chunks[0])
    }

    private mutating func readOldOrQuery() -> Action {
        if gapEnd > startWatermark { return .readOld(windows: windows(from: startWatermark, to: gapEnd), fold: settings.foldTooOld) }
        queries += 1
        return .query(chunks[0])
    }

    /// `[from, to)` in queries of at most `max_buckets_per_query` buckets.
    private func windows(from: Int64, to: Int64) -> [TimeWindow] {
        WindowPlanner(stepSeconds: settings.planner.stepSeconds, lagSeconds: 0, maxBucketsPerQuery: settings.planner.maxBucketsPerQuery)
            .chunks(watermark: from, now: to)
    }

    /// A complete bucket of the open query, in bucket order.
    package mutating func read(_ bucket: ReadBucket) -> Action {
        precondition(inFlight == nil, "read while a batch is in flight")
        var action = Action.read
        if batcher.cuts(before: bucket) {
            // The batch goes first, up to this bucket's start; this bucket starts the next one.
            action = flush(upTo: bucket.start, then: .read)
        }
        batcher.add(bucket)
        return action
    }

    /// The open query has no more buckets: deliver the rest, and move the watermark to its end.
    package mutating func endOfChunk() -> Action {
        precondition(inFlight == nil, "end of chunk while a batch is in flight")
        let end = chunks[chunk].end
        return flush(upTo: end, then: .nextChunk)
    }

    /// The receiver acknowledged every request of the delivery.
    package mutating func acknowledged(_ ack: ExportAcknowledgement) -> Action {
        guard inFlight != nil, let commit = commitInFlight else { preconditionFailure("acknowledged without a delivery") }
        batches += 1
        inFlight!.ack = ack
        return .commit(commit.acknowledged(by: ack, unit: Self.unit))
    }

    /// The commit in flight is durable.
    package mutating func committed() -> Action {
        guard let flight = inFlight else { preconditionFailure("committed without a commit") }
        inFlight = nil
        commitInFlight = nil
        let buckets = batcher.committed()
        if foldInFlight, let found = fold {
            lateBuckets += found.buckets
            lateFolded += found.folded
            lateUnfolded += found.unfolded
            fold = nil
            foldInFlight = false
        }
        if gapInFlight, let g = gap {
            pointsSkipped += g.points ?? 0
            gap = nil
            gapInFlight = false
        }
        account(buckets, ack: flight.ack)
        watermark = max(watermark, flight.upTo)
        return next()
    }

    /// The digests stored for the buckets asked by ``Action/loadDigests(from:to:)``, by bucket start.
    package mutating func digestsLoaded(_ stored: [Int64: String]) -> Action {
        guard !stored.isEmpty else { return .finish }
        storedDigests = stored
        let planner = WindowPlanner(stepSeconds: settings.planner.stepSeconds, lagSeconds: 0,
                                    maxBucketsPerQuery: settings.planner.maxBucketsPerQuery)
        let windows = planner.chunks(watermark: digestFrom, now: startWatermark)
        return .readDigests(windows)
    }

    /// The digests of the buckets read again, by bucket start (a bucket with no rows is absent).
    package mutating func digestsRead(_ current: [Int64: BucketDigest]) -> Action {
        var late: [BucketDigestRecord] = []
        for (start, digest) in storedDigests.sorted(by: { $0.key < $1.key }) where digest.hasPrefix(settings.fingerprint + ":") {
            // Digests recorded under another definition of the pipeline are not comparable.
            let now = (current[start] ?? BucketDigest()).text(fingerprint: settings.fingerprint)
            if now != digest { late.append(BucketDigestRecord(bucketStart: UTCInstant(unixNanoseconds: start), digest: now)) }
        }
        guard !late.isEmpty else { return .finish }
        lateBuckets = late.count
        return .recordLateBuckets(late)
    }

    /// The late buckets are recorded.
    package mutating func recorded() -> Action { .finish }

    // MARK: - Read-ahead (the batcher's)

    /// Whether the runner may read the next bucket now, while a batch is in flight.
    package var readsAhead: Bool { batcher.readsAhead }
    /// A bucket read while a batch is in flight; ``nextAhead()`` hands it back once it is committed.
    package mutating func readAhead(_ bucket: ReadBucket) { batcher.readAhead(bucket) }
    /// The open query ended (or failed) while reading ahead.
    package mutating func endReadAhead(failed: Bool) { batcher.endReadAhead(failed: failed) }
    /// What was read ahead, in order; `nil` when nothing was.
    package mutating func nextAhead() -> Batcher<ReadBucket>.Ahead? { batcher.nextAhead() }

    // MARK: - Decisions

    /// Takes the pending buckets out as the batch up to `upTo`: a delivery when it has points, a
    /// commit when it only moves the watermark, or nothing.
    private mutating func flush(upTo: Int64, then: Resume) -> Action {
        resume = then
        let buckets = batcher.send()
        let points = buckets.reduce(0) { $0 + $1.points }
        if points > 0 {
            inFlight = (upTo, ExportAcknowledgement())
            commitInFlight = commit(buckets, upTo: upTo, series: Self.latestStates(buckets))
            return .deliver(requests(buckets))
        }
        if upTo > watermark {
            inFlight = (upTo, ExportAcknowledgement())
            return .commit(commit(buckets, upTo: upTo, series: Self.latestStates(buckets)))
        }
        batcher.committed()
        account(buckets, ack: ExportAcknowledgement())
        return next()
    }

    /// What follows a batch.
    private mutating func next() -> Action {
        switch resume {
        case .read:
            return .read
        case .nextChunk:
            chunk += 1
            if chunk < chunks.count {
                queries += 1
                return .query(chunks[chunk])
            }
            return lateDataCheck()
        case .lateData:
            return lateDataCheck()
        }
    }

    private func lateDataCheck() -> Action {
        // Folding checked at the start of the pass, or waits for a pass with a new bucket.
        if settings.foldLateData { return .finish }
        // Only buckets exported by earlier passes: this pass's buckets were just digested.
        guard digestFrom != .max, startWatermark > digestFrom else { return .finish }
        return .loadDigests(from: digestFrom, to: startWatermark)
    }

    /// The batch's parts packed in order into requests within the budget (one request unless a
    /// lone bucket is larger than a request).
    private func requests(_ buckets: [ReadBucket]) -> [[EncodedPoints]] {
        Batcher<ReadBucket>.pack(buckets.lazy.flatMap(\.parts), budget: settings.requestBudget, bytes: \.byteCount)
    }

    /// The latest state of every series the buckets changed, in the order the series first
    /// changed in them. By series index: a series with state keeps its index for the whole pass.
    private static func latestStates(_ buckets: [ReadBucket]) -> [SeriesState] {
        guard let changed = buckets.first(where: { !$0.changes.isEmpty }) else { return [] }
        guard let directory = changed.directory, buckets.allSatisfy({ $0.changes.isEmpty || $0.directory === directory }) else {
            preconditionFailure("a bucket's series changes come with the pass's SeriesDirectory")
        }
        guard buckets.count > 1 else { return directory.states(of: buckets[0].changes) }
        let indexes = buckets.reduce(0) { max($0, $1.changes.reduce(-1) { max($0, $1.series) } + 1) }
        var position = [Int32](repeating: -1, count: indexes)
        var latest: [SeriesChange] = []
        for bucket in buckets {
            for change in bucket.changes {
                let i = Int(position[change.series])
                if i >= 0 {
                    // A series new in the batch is inserted with its latest totals.
                    latest[i].totals = change.totals
                    latest[i].inserts = latest[i].inserts || change.inserts
                } else {
                    position[change.series] = Int32(latest.count)
                    latest.append(change)
                }
            }
        }
        // The states made once per series and batch, not once per change.
        return directory.states(of: latest)
    }

    /// The commit of `buckets` up to `upTo`, as it is before any acknowledgement.
    private mutating func commit(_ buckets: [ReadBucket], upTo: Int64, series: [SeriesState]) -> BatchCommit {
        var commit = BatchCommit(pipeline: settings.pipeline, runID: settings.runID, watermark: UTCInstant(unixNanoseconds: upTo))
        commit.requireLock = true
        commit.rowsRead = Int64(buckets.reduce(0) { $0 + $1.rows })
        commit.pointsExported = Int64(buckets.reduce(0) { $0 + $1.points })
        commit.series = series
        commit.seriesOverflowed = buckets.reduce(0) { $0 + $1.overflowed }
        if digestFrom != .max {
            // Every recent bucket the commit covers, empty ones included.
            let from = settings.planner.alignDown(digestFrom)
            let byStart = Dictionary(buckets.map { ($0.start, $0) }, uniquingKeysWith: { a, _ in a })
            var t = max(watermark, from, gapEnd)  // buckets not sent have no digest
            while t < upTo {
                let bucket = byStart[t]
                commit.bucketDigests.append(BucketDigestRecord(
                    bucketStart: UTCInstant(unixNanoseconds: t), digest: (bucket?.digest ?? BucketDigest()).text(fingerprint: settings.fingerprint),
                    exported: settings.foldLateData ? (bucket?.exported ?? "") : nil))
                t += step
            }
            commit.pruneDigestsBefore = UTCInstant(unixNanoseconds: from)
        }
        if let found = fold, !foldInFlight {
            // The batch that carries the fold: the re-read buckets' new baseline goes with it.
            commit.bucketDigests = found.records + commit.bucketDigests
            commit.lateBuckets = found.buckets
            commit.lateFolded = Int64(found.folded)
            commit.lateUnfolded = Int64(found.unfolded)
            foldInFlight = true
        }
        if let g = gap, !gapInFlight {
            commit.gap = g
            gapInFlight = true
        }
        return commit
    }

    private mutating func account(_ buckets: [ReadBucket], ack: ExportAcknowledgement) {
        rowsRead += Int64(buckets.reduce(0) { $0 + $1.rows })
        pointsExported += Int64(buckets.reduce(0) { $0 + $1.points })
        pointsRejected += ack.rejected
    }
}
