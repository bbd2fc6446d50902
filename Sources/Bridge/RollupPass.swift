import Observability
import Rollup
import Checkpoints
import ClickHouse
import Foundation
import Logging
import OTLP
import PipelineConfig
import UTCTime

/// One pass of one rollup pipeline: the rollup adapter over the ``PassRunner``. The one owner of
/// its lock and run record (through ``PassRecord``). What to do next is the ``PassMachine``'s
/// decision; the runner does it over the rollup's seams (``RollupRows``: window queries read
/// into buckets; ``RollupItems``: buckets aggregated into points and encoded; ``PointRequests``:
/// the sink; the ledger), and this adapter does the rollup's own actions (late data, digests,
/// buckets too old to send).
///
/// The path of a window, in order (each step names where it lives):
/// 1. Lock the pipeline, read its watermark, open a run record, forget idle series (the ledger).
/// 2. ``PassMachine`` cuts `[watermark, last closed bucket end)` into query chunks.
/// 3. Each chunk's query (``WindowQuery``) streams rows from ClickHouse; ``BucketReader`` checks
///    the header once and each row as it arrives, merges rows of one series, sends series past a
///    metric's cardinality limit to its overflow series, and hands out complete buckets.
/// 4. ``SeriesAggregator`` turns a bucket's observations into points under the temporality, and
///    the sink encodes them once (``MetricRequestWriter``).
/// 5. The machine batches buckets to the point and byte limits; the sink delivers a batch, and
///    only once the receiver acknowledged it the ledger commits the machine's ``BatchCommit``.
/// 6. With `late_data_check`, recent buckets of earlier passes are read again and compared:
///    `late_data: fold` before step 3, the differences carried into the first bucket's points
///    (``LateFold``); `late_data: report` after step 5, changed buckets only recorded.
/// 7. The run record is closed and the lock released, whatever happened.
final class RollupPass {
    let pipeline: PipelineConfiguration
    let context: PassContext
    let ledger: any PassLedger
    let sink: any PointSink
    let temporality: AggregationTemporality
    let progress: any PassProgress

    init(pipeline: PipelineConfiguration, context: PassContext, ledger: any PassLedger, sink: any PointSink,
         temporality: AggregationTemporality, progress: any PassProgress = NoProgress()) {
        self.pipeline = pipeline
        self.context = context
        self.ledger = ledger
        self.sink = sink
        self.temporality = temporality
        self.progress = progress
    }

    private var logger: Logger { context.logger }

    private var planner: WindowPlanner {
        WindowPlanner(stepSeconds: pipeline.stepSeconds, lagSeconds: pipeline.lagSeconds, maxBucketsPerQuery: pipeline.maxBucketsPerQuery)
    }

    /// Runs the pass. Never throws: a failure is in the summary (and the run record), with the
    /// watermark where the last acknowledged batch put it.
    func run() -> PassSummary {
        let started = ContinuousClock.now
        let initial = planner.initialWatermark(context.startAt)
        let record = context.record(pipeline: pipeline.name, ledger: ledger)
        return record.run(PassSummary(pipeline: pipeline.name, status: .ok, watermarkBefore: initial, watermarkAfter: initial), pass: { summary, runID in
            let watermark: Int64
            do {
                watermark = try ledger.watermark(pipeline: pipeline.name, initial: UTCInstant(unixNanoseconds: initial)).unixNanoseconds
            } catch {
                throw record.checkpointError(error)
            }
            summary.watermarkBefore = watermark
            summary.watermarkAfter = watermark
            guard planner.isAligned(watermark) else {
                // Rounding down would export again what the old step already exported.
                throw BridgeError(.configuration, "the watermark \(UTCInstant(unixNanoseconds: watermark).iso8601) is not on a \(pipeline.stepSeconds) s bucket boundary (was the step changed?); rewind the pipeline to a boundary: otel-bridge checkpoints rewind \(pipeline.name) --to TIME",
                                  pipeline: pipeline.name)
            }
            do {
                runID = try ledger.startRun(pipeline: pipeline.name, windowStart: UTCInstant(unixNanoseconds: watermark))
                if temporality == .cumulative {
                    // Series idle past series_expiry (in bucket time) are forgotten; if they
                    // return they restart. Done under the lock, before anything is read.
                    let expired = try ledger.expireSeries(
                        pipeline: pipeline.name, idleBefore: UTCInstant(unixNanoseconds: watermark - pipeline.seriesExpirySeconds * 1_000_000_000))
                    if expired > 0 { logger.info("forgot idle series", metadata: ["series": "\(expired)", "series_expiry": "\(pipeline.seriesExpirySeconds)s"]) }
                }
            } catch {
                throw record.checkpointError(error)
            }
            guard pipeline.maxRequestBytes > sink.requestOverhead else {
                throw BridgeError(.configuration, "max_request_bytes (\(pipeline.maxRequestBytes)) leaves no room for points once the request's resource and scope (\(sink.requestOverhead) bytes) are written: raise it, or shorten OTEL_RESOURCE_ATTRIBUTES",
                                  pipeline: pipeline.name, key: "max_request_bytes")
            }
            let maxPointAge = pipeline.maxPointAgeSeconds ?? 0
            if let why = PipelineFile.maxPointAgeProblem(maxPointAge, stepSeconds: pipeline.stepSeconds, lagSeconds: pipeline.lagSeconds) {
                throw BridgeError(.configuration, why, pipeline: pipeline.name, key: "BRIDGE_MAX_POINT_AGE")
            }
            var settings = PassMachine.Settings(
                pipeline: pipeline.name, runID: runID ?? 0, planner: planner,
                maxPointsPerRequest: pipeline.maxPointsPerRequest,
                requestBudget: pipeline.maxRequestBytes - sink.requestOverhead,
                lateDataCheckSeconds: pipeline.lateDataCheckSeconds,
                fingerprint: BucketDigest.fingerprint(of: pipeline), foldLateData: pipeline.lateData == .fold)
            settings.maxPointAgeSeconds = maxPointAge
            settings.foldTooOld = pipeline.tooOld == .fold
            var machine = PassMachine(settings: settings, watermark: watermark, now: context.now)
            progress.began(pipeline: pipeline.name, total: machine.bucketsTotal)
            defer { progress.ended(pipeline: pipeline.name) }
            try drive(&machine, watermark: watermark, summary: &summary)
        }, finished: { summary in
            log(finished: summary, duration: ContinuousClock.now - started)
        })
    }

    /// The runner over the rollup's seams, and the rollup's own actions.
    private func drive(_ machine: inout PassMachine, watermark: Int64, summary: inout PassSummary) throws(BridgeError) {
        // ── Series seam: the aggregator and the series table (see RollupItems.write for the rest). ──
        let table = SeriesTable()
        let aggregator = SeriesAggregator(pipeline: pipeline.name, temporality: temporality, expirySeconds: pipeline.seriesExpirySeconds,
                                          source: ledger.series(pipeline: pipeline.name, watermark: watermark), table: table)
        let gauges = pipeline.metrics.map { if case .gauge = $0.kind { true } else { false } }
        let source = RollupRows(pipeline: pipeline, clickhouse: context.clickhouse, logger: logger, planner: planner, aggregator: aggregator,
                                table: table, digestsFrom: machine.digestsFrom)
        let writer = RollupItems(pipeline: pipeline, logger: logger, planner: planner, aggregator: aggregator, table: table, sink: sink,
                                 budget: machine.settings.requestBudget, gauges: gauges,
                                 storesValues: machine.settings.foldLateData && machine.digestsFrom != .max, digestsFrom: machine.digestsFrom)
        var runner = PassRunner<PassMachine, RollupRows, RollupItems, PointRequests>(pipeline: pipeline.name, source: source, writer: writer, sink: PointRequests(sink: sink), ledger: ledger,
                                worker: context.worker, stop: context.stop, logger: logger)
        runner.readsWithoutStore = { aggregator.readsWithoutStore }
        let progress = self.progress, name = pipeline.name
        runner.committed = { machine in progress.advanced(pipeline: name, done: machine.bucketsDone, rows: machine.rowsRead, points: machine.pointsExported) }
        // What the pass commits goes to the series log: merged into series_state when the pass
        // ends, however it ends, while the store answers; what is left, the next pass merges first.
        defer { if temporality == .cumulative { settleSeries() } }
        try runner.run(&machine, summary: &summary) { (action, machine, summary, source) throws(BridgeError) -> PassMachine.Action in
            switch action {
            case .loadDigests(let from, let to):
                // Everything was exported and committed: a failing check is reported, not fatal.
                do {
                    let stored = try ledger.bucketDigests(pipeline: pipeline.name, from: UTCInstant(unixNanoseconds: from), to: UTCInstant(unixNanoseconds: to))
                    return machine.digestsLoaded(Dictionary(uniqueKeysWithValues: stored.map { ($0.key.unixNanoseconds, $0.value) }))
                } catch {
                    lateDataCheckFailed(error)
                    return .finish
                }
            case .readDigests(let windows):
                do {
                    return machine.digestsRead(try digests(of: windows))
                } catch {
                    lateDataCheckFailed(error)
                    return .finish
                }
            case .foldLate(let from, let to, let windows):
                do {
                    let found = try foldLate(from: from, to: to, windows: windows, machine: machine, aggregator: aggregator, table: table, gauges: gauges)
                    if found.carries { source.carryAt = machine.firstBucketSent }
                    return machine.lateFolded(found.late)
                } catch {
                    // Nothing is folded unless the baseline moves with it.
                    aggregator.dropCarry()
                    source.carryAt = nil
                    logger.warning("late-data check failed; late rows are not folded in this pass", metadata: ["error": "\(context.redact("\(error)"))"])
                    return machine.lateFolded(nil)
                }
            case .readOld(let windows, let fold):
                let (rows, points) = try readOld(windows, fold: fold, machine: machine, aggregator: aggregator, table: table, gauges: gauges)
                if fold && aggregator.hasCarry { source.carryAt = machine.firstBucketSent }
                return machine.oldRead(rows: rows, points: points)
            case .recordLateBuckets(let late):
                logger.warning("rows arrived after their bucket was exported; they are not in the exported data (consider a longer lag)", metadata: [
                    "late_buckets": "\(late.count)",
                    "buckets": "\(late.prefix(5).map(\.bucketStart.iso8601).joined(separator: ", "))\(late.count > 5 ? ", …" : "")",
                    "lag": "\(pipeline.lagSeconds)s",
                ])
                summary.record(machine.counters)
                do {
                    try ledger.recordLateBuckets(pipeline: pipeline.name, runID: machine.settings.runID, digests: late)
                    return machine.recorded()
                } catch {
                    lateDataCheckFailed(error)
                    return .finish
                }
            case .query, .read, .deliver, .commit, .finish:
                preconditionFailure("the runner's own action \(action)")
            }
        }
    }

    private func settleSeries() {
        do {
            try ledger.settleSeries(pipeline: pipeline.name)
        } catch {
            logger.warning("series_state not brought up to date with the series log; the next pass does it", metadata: [
                "error": "\(context.redact("\(error)"))",
            ])
        }
    }

    /// `late_data: fold`: the buckets in `[from, to)` read again and compared with what was
    /// exported; the differences handed to the aggregator for the pass's first bucket. Whether
    /// any was carried.
    private func foldLate(from: Int64, to: Int64, windows: [TimeWindow], machine: PassMachine, aggregator: SeriesAggregator, table: SeriesTable,
                          gauges: [Bool]) throws -> (late: FoldedLate, carries: Bool) {
        let stored = try ledger.exportedBuckets(pipeline: pipeline.name, from: UTCInstant(unixNanoseconds: from), to: UTCInstant(unixNanoseconds: to))
        guard !stored.isEmpty else { return (FoldedLate(), false) }
        var current: [Int64: LateBucket] = [:]
        let byStart = Dictionary(uniqueKeysWithValues: stored.map { ($0.key.unixNanoseconds, $0.value) })
        // Cumulative admission is stable (stored series); delta's depends on the order of the
        // bucket's rows, so the re-read admits what the export admitted.
        let admission: any SeriesAdmission = aggregator.temporality == .delta ? LateAdmission(stored: byStart, series: table) : aggregator
        for window in windows {
            let stream = try query(window)
            defer { stream.close() }
            var reader = try BucketReader(pipeline: pipeline, stream: stream, window: window, planner: planner, admission: admission, table: table)
            while let bucket = try reader.next() { current[bucket.start] = LateBucket(bucket, series: table) }
        }
        let found = LateFold.compare(stored: byStart, current: current, fingerprint: machine.settings.fingerprint, gauges: gauges, series: table)
        try aggregator.carry(found.carries)
        if found.late.buckets > 0 {
            logger.notice("rows arrived after their bucket was exported; their values go into the next point of each series", metadata: [
                "late_buckets": "\(found.late.buckets)", "folded": "\(found.late.folded)", "unfolded": "\(found.late.unfolded)",
                "buckets": "\(found.late.records.prefix(5).map(\.bucketStart.iso8601).joined(separator: ", "))\(found.late.records.count > 5 ? ", …" : "")",
                "into": "\(UTCInstant(unixNanoseconds: machine.firstBucketSent ?? to).iso8601)",
            ])
        }
        return (found.late, !found.carries.isEmpty)
    }

    /// `max_point_age`: the buckets too old to send read for their rows and the points they
    /// would have been; with `fold` their values carried into the first bucket sent, else
    /// cumulative series start again there.
    private func readOld(_ windows: [TimeWindow], fold: Bool, machine: PassMachine, aggregator: SeriesAggregator, table: SeriesTable,
                         gauges: [Bool]) throws(BridgeError) -> (rows: Int64, points: Int64) {
        var rows: Int64 = 0, points: Int64 = 0
        var carries: [Carry] = []
        for window in windows {
            let stream = try query(window)
            defer { stream.close() }
            var reader = try BucketReader(pipeline: pipeline, stream: stream, window: window, planner: planner, admission: aggregator, table: table)
            while let bucket = try reader.next() {
                rows += Int64(bucket.rows)
                points += Int64(bucket.observations.count)
                guard fold else { continue }
                for o in bucket.observations where !gauges[table.metric[o.series]] {
                    if case .fold(let value) = LateFold.difference(o.observation, exported: nil) { carries.append(Carry(series: o.series, value: value, exemplar: o.exemplar)) }
                }
                try aggregator.carry(carries)  // now: carried series keep their index
                carries = []
            }
        }
        if fold {
            try aggregator.carry(carries)
        } else {
            aggregator.restartSeries(before: machine.gapEnd)
        }
        logger.warning("buckets older than max_point_age are not sent; the watermark passes them and the gap is recorded (otel_bridge.gaps)", metadata: [
            "from": "\(UTCInstant(unixNanoseconds: machine.startWatermark).iso8601)", "to": "\(UTCInstant(unixNanoseconds: machine.gapEnd).iso8601)",
            "buckets": "\((machine.gapEnd - machine.startWatermark) / planner.step)", "rows": "\(rows)", "points": "\(points)",
            "max_point_age": "\(machine.settings.maxPointAgeSeconds)s", "too_old": "\(fold ? "fold" : "drop")",
        ])
        return (rows, points)
    }

    private func query(_ window: TimeWindow) throws(BridgeError) -> ClickHouseRowStream {
        try RollupRows.query(window, pipeline: pipeline, clickhouse: context.clickhouse, logger: logger)
    }

    /// The digests of the buckets in `windows`, read again (nothing is aggregated or admitted).
    private func digests(of windows: [TimeWindow]) throws(BridgeError) -> [Int64: BucketDigest] {
        var current: [Int64: BucketDigest] = [:]
        for window in windows {
            let stream = try query(window)
            defer { stream.close() }
            var reader = try BucketReader(pipeline: pipeline, stream: stream, window: window, planner: planner, admission: nil)
            while let bucket = try reader.next() { current[bucket.start] = bucket.digest }
        }
        return current
    }

    private func lateDataCheckFailed(_ error: any Error) {
        logger.warning("late-data check failed; the export itself succeeded", metadata: ["error": "\(context.redact("\(error)"))"])
    }

    private func log(finished summary: PassSummary, duration: Duration) {
        var metadata: Logger.Metadata = [
            "duration": "\(String(format: "%.3f", duration.inSeconds))s",
            "watermark": "\(UTCInstant(unixNanoseconds: summary.watermarkAfter).iso8601)", "rows": "\(summary.rowsRead)",
            "points": "\(summary.pointsExported)", "batches": "\(summary.batches)", "rejected": "\(summary.pointsRejected)",
        ]
        if summary.mergedRows > 0 { metadata["merged_rows"] = "\(summary.mergedRows)" }
        if !summary.seriesOverflowed.isEmpty {
            metadata["series_overflowed"] = "\(summary.seriesOverflowed.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))"
        }
        logger.info("pass finished", metadata: metadata)
    }
}


extension PassMachine: RunnableMachine {
    func step(_ action: Action) -> RunnerStep<TimeWindow, [[EncodedPoints]]> {
        switch action {
        case .query(let window): .query(window)
        case .read: .read
        case .deliver(let requests): .deliver(requests)
        case .commit(let batch): .commit(batch)
        case .finish: .finish
        case .loadDigests, .readDigests, .recordLateBuckets, .foldLate, .readOld: .other
        }
    }

    mutating func endOfQuery() -> Action { endOfChunk() }

    var counters: PassCounters {
        PassCounters(watermark: watermark, rowsRead: rowsRead, exported: pointsExported, rejected: pointsRejected, batches: batches, queries: queries,
                     lateBuckets: lateBuckets, lateFolded: lateFolded, lateUnfolded: lateUnfolded, pointsSkipped: pointsSkipped)
    }
}

/// The rollup's row source: a window's query read into complete buckets (``BucketReader``).
/// Carried values (late rows, or buckets too old to send) go into the first bucket the pass
/// sends: when the query's first bucket is later (or there is none), an empty bucket there
/// carries them, and the bucket read waits.
struct RollupRows: RowSource {
    let pipeline: PipelineConfiguration
    let clickhouse: ClickHouseClient
    let logger: Logger
    let planner: WindowPlanner
    let aggregator: SeriesAggregator
    let table: SeriesTable
    let digestsFrom: Int64
    /// Where carried values go (set by the late-data fold and `max_point_age`).
    var carryAt: Int64?
    private var waiting: ResultBucket?
    private var open: (stream: ClickHouseRowStream, reader: BucketReader)?

    init(pipeline: PipelineConfiguration, clickhouse: ClickHouseClient, logger: Logger, planner: WindowPlanner, aggregator: SeriesAggregator,
         table: SeriesTable, digestsFrom: Int64) {
        self.pipeline = pipeline
        self.clickhouse = clickhouse
        self.logger = logger
        self.planner = planner
        self.aggregator = aggregator
        self.table = table
        self.digestsFrom = digestsFrom
    }

    static func query(_ window: TimeWindow, pipeline: PipelineConfiguration, clickhouse: ClickHouseClient, logger: Logger) throws(BridgeError) -> ClickHouseRowStream {
        logger.debug("querying", metadata: ["window": "\(window)"])
        do {
            return try clickhouse.query(WindowQuery.sql(for: pipeline), parameters: WindowQuery.parameters(for: pipeline, window: window))
        } catch {
            throw BridgeError(.query, error.description, pipeline: pipeline.name, file: pipeline.queryFile, underlying: error)
        }
    }

    mutating func open(_ window: TimeWindow) throws(BridgeError) {
        close()
        let stream = try Self.query(window, pipeline: pipeline, clickhouse: clickhouse, logger: logger)
        // ── Series seam: the reader. ──
        open = (stream, try BucketReader(pipeline: pipeline, stream: stream, window: window, planner: planner, admission: aggregator,
                                         table: table, digestsFrom: digestsFrom))
    }

    mutating func next() throws(BridgeError) -> ResultBucket? {
        var next: ResultBucket?
        if let w = waiting {
            next = w
            waiting = nil
        } else {
            next = try open!.reader.next()
        }
        if let at = carryAt, aggregator.hasCarry {
            carryAt = nil
            if next.map({ $0.start > at }) ?? true {
                waiting = next
                next = ResultBucket.empty(at: at)
            }
        }
        guard let bucket = next else {
            close()
            return nil
        }
        return bucket
    }

    var isOpen: Bool { open != nil }

    mutating func close() {
        open?.stream.close()
        open = nil
    }
}

/// The rollup's item writer: a bucket's observations aggregated into points under the
/// temporality and encoded once by the sink, with what the late-data fold stores.
struct RollupItems: ItemWriter {
    let pipeline: PipelineConfiguration
    let logger: Logger
    let planner: WindowPlanner
    let aggregator: SeriesAggregator
    /// The pass's series (the aggregator's and the readers'), for the sink and the stored values.
    let table: SeriesTable
    let sink: any PointSink
    let budget: Int
    let gauges: [Bool]
    /// `late_data: fold` with a check: buckets from `digestsFrom` on store their values.
    let storesValues: Bool
    let digestsFrom: Int64

    func write(_ bucket: ResultBucket, notes summary: inout PassSummary) throws(BridgeError) -> ReadBucket {
        // ── Series seam: aggregate, encode, take the changes. ──
        let exported = storesValues && bucket.start >= digestsFrom ? LateFold.encode(bucket.observations, gauges: gauges, series: table) : nil
        let points = try aggregator.points(of: bucket, metrics: pipeline.metrics, step: planner.step)
        note(bucket, summary: &summary)
        let parts = try sink.encode(points, series: table, end: UInt64(bucket.start + planner.step), budget: budget)
        return ReadBucket(start: bucket.start, rows: bucket.rows, parts: parts, digest: bucket.digest,
                          overflowed: bucket.overflowed.values.reduce(0, +), changes: aggregator.takeChanges(), directory: aggregator.directory, exported: exported)
    }

    /// Counts (and logs, the first time in a pass) what the reader merged or sent to overflow.
    private func note(_ bucket: ResultBucket, summary: inout PassSummary) {
        if bucket.mergedRows > 0 {
            if summary.mergedRows == 0 {
                logger.warning("result rows of one series were merged: two groups of the query's result are one series (an attribute that is '' in one and NULL in the other is omitted in both, or the query does not GROUP BY every attribute column)", metadata: [
                    "bucket": "\(UTCInstant(unixNanoseconds: bucket.start).iso8601)",
                ])
            }
            summary.mergedRows += bucket.mergedRows
        }
        for (metric, n) in bucket.overflowed.sorted(by: { $0.key < $1.key }) {
            if summary.seriesOverflowed[metric] == nil {
                let limit = pipeline.metrics.first { $0.name == metric }?.cardinalityLimit ?? 0
                logger.warning("metric reached its cardinality limit: further series are aggregated into otel.metric.overflow=true", metadata: [
                    "metric": "\(metric)", "cardinality_limit": "\(limit)",
                    "bucket": "\(UTCInstant(unixNanoseconds: bucket.start).iso8601)",
                ])
            }
            summary.seriesOverflowed[metric, default: 0] += n
        }
    }

}

/// The rollup's sink seam: a delivery is the batch's requests, sent in order.
struct PointRequests: RequestSink {
    let sink: any PointSink

    func send(_ requests: [[EncodedPoints]], willRetry: () -> Void) throws(BridgeError) -> ExportAcknowledgement {
        try sink.send(requests, willRetry: willRetry)
    }

    func attemptBound(for requests: [[EncodedPoints]]) -> Duration { sink.attemptTimeout * requests.count }
}
