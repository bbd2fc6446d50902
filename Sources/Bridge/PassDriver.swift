import Observability
import Rollup
import Checkpoints
import ClickHouse
import Foundation
import Logging
import OTLP
import PipelineConfig
import UTCTime

/// Carries out one pass of one pipeline: the one owner of its lock and run record, and the one
/// place where its effects happen. What to do next is the ``PassMachine``'s decision; this loop
/// does it against ClickHouse, the sink and the ledger, and tells the machine what came of it.
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
final class PassDriver {
    let pipeline: PipelineConfiguration
    let clickhouse: ClickHouseClient
    let ledger: any PassLedger
    let sink: any PointSink
    let temporality: AggregationTemporality
    let logger: Logger
    /// A pipeline without checkpoint starts here (aligned down).
    let startAt: Int64
    let now: Int64
    let redact: Redactor
    /// Checked before each query and each delivery: a stopped pass ends where it stands.
    let stop: StopSignal?
    let recordSkips: Bool
    let progress: any PassProgress

    init(pipeline: PipelineConfiguration, clickhouse: ClickHouseClient, ledger: any PassLedger, sink: any PointSink,
         temporality: AggregationTemporality, logger: Logger, startAt: Int64, now: Int64, redact: Redactor,
         stop: StopSignal? = nil, recordSkips: Bool = true, progress: any PassProgress = NoProgress()) {
        self.pipeline = pipeline
        self.clickhouse = clickhouse
        self.ledger = ledger
        self.sink = sink
        self.temporality = temporality
        self.logger = logger
        self.startAt = startAt
        self.now = now
        self.redact = redact
        self.stop = stop
        self.recordSkips = recordSkips
        self.progress = progress
    }

    private var planner: WindowPlanner {
        WindowPlanner(stepSeconds: pipeline.stepSeconds, lagSeconds: pipeline.lagSeconds, maxBucketsPerQuery: pipeline.maxBucketsPerQuery)
    }

    /// Runs the pass. Never throws: a failure is in the summary (and the run record), with the
    /// watermark where the last acknowledged batch put it.
    func run() -> PassSummary {
        let started = ContinuousClock.now
        let initial = planner.initialWatermark(startAt)
        let record = PassRecord(pipeline: pipeline.name, ledger: ledger, logger: logger, redact: redact, recordSkips: recordSkips)
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
            var machine = PassMachine(settings: settings, watermark: watermark, now: now)
            progress.began(pipeline: pipeline.name, total: machine.bucketsTotal)
            defer { progress.ended(pipeline: pipeline.name) }
            do {
                try drive(&machine, watermark: watermark, summary: &summary)
            } catch {
                summary.record(machine)  // what was committed before the failure
                throw error
            }
        }, finished: { summary in
            log(finished: summary, duration: ContinuousClock.now - started)
        })
    }

    /// The loop: the machine decides, this does.
    ///
    /// While a delivery or a commit waits on the network or Postgres (on a thread of its own,
    /// ``BackgroundStep``), this thread reads and encodes the buckets that follow, up to about one
    /// more batch, and hands them to the machine once it asks for them: the machine sees the same
    /// events in the same order, so every decision and guarantee is the one of a sequential pass.
    /// A read that fails meanwhile is reported where the machine next asks to read, after the
    /// batch in flight is acknowledged and committed. Reading ahead only happens when reading
    /// needs no checkpoint store (delta, or the pipeline's series state read at once), so the two
    /// threads never share a connection.
    private func drive(_ machine: inout PassMachine, watermark: Int64, summary: inout PassSummary) throws(BridgeError) {
        let table = SeriesTable()
        let aggregator = SeriesAggregator(pipeline: pipeline.name, temporality: temporality, expirySeconds: pipeline.seriesExpirySeconds,
                                          source: ledger.series(pipeline: pipeline.name, watermark: watermark), table: table)
        let mappings = pipeline.metrics
        let budget = machine.settings.requestBudget
        var open: (stream: ClickHouseRowStream, reader: BucketReader)?
        defer { open?.stream.close() }
        // Buckets read ahead, then the end of the open query, or a read that failed.
        var ahead: [ReadBucket] = []
        var aheadPoints = 0, aheadBytes = 0
        var aheadEnd: Result<Void, BridgeError>?
        let gauges = mappings.map { if case .gauge = $0.kind { true } else { false } }
        let storesValues = machine.settings.foldLateData && machine.digestsFrom != .max
        /// Carried values (late rows, or buckets too old to send) go into the first bucket the pass
        /// sends: when the query's first bucket is later (or there is none), an empty bucket there
        /// carries them, and the bucket read waits here.
        var carryAt: Int64?
        var waiting: ResultBucket?

        /// The next bucket of the open query, read, aggregated and encoded; `nil` at its end.
        func readBucket() throws(BridgeError) -> ReadBucket? {
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
                open?.stream.close()
                open = nil
                return nil
            }
            let exported = storesValues && bucket.start >= machine.digestsFrom ? LateFold.encode(bucket.observations, gauges: gauges, series: table) : nil
            let points = try aggregator.points(of: bucket, metrics: mappings, step: planner.step)
            note(bucket, summary: &summary)
            let parts = try sink.encode(points, series: table, end: UInt64(bucket.start + planner.step), budget: budget)
            return ReadBucket(start: bucket.start, rows: bucket.rows, parts: parts, digest: bucket.digest,
                              overflowed: bucket.overflowed.values.reduce(0, +), changes: aggregator.takeChanges(), exported: exported)
        }

        /// `late_data: fold`: the buckets in `[from, to)` read again and compared with what was
        /// exported; the differences handed to the aggregator for the pass's first bucket.
        func foldLate(from: Int64, to: Int64, windows: [TimeWindow]) throws -> FoldedLate {
            let stored = try ledger.exportedBuckets(pipeline: pipeline.name, from: UTCInstant(unixNanoseconds: from), to: UTCInstant(unixNanoseconds: to))
            guard !stored.isEmpty else { return FoldedLate() }
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
            if !found.carries.isEmpty { carryAt = machine.firstBucketSent }
            if found.late.buckets > 0 {
                logger.notice("rows arrived after their bucket was exported; their values go into the next point of each series", metadata: [
                    "late_buckets": "\(found.late.buckets)", "folded": "\(found.late.folded)", "unfolded": "\(found.late.unfolded)",
                    "buckets": "\(found.late.records.prefix(5).map(\.bucketStart.iso8601).joined(separator: ", "))\(found.late.records.count > 5 ? ", …" : "")",
                    "into": "\(UTCInstant(unixNanoseconds: machine.firstBucketSent ?? to).iso8601)",
                ])
            }
            return found.late
        }

        /// `max_point_age`: the buckets too old to send read for their rows and the points they
        /// would have been; with `fold` their values carried into the first bucket sent, else
        /// cumulative series start again there.
        func readOld(_ windows: [TimeWindow], fold: Bool) throws(BridgeError) -> (rows: Int64, points: Int64) {
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
                if aggregator.hasCarry { carryAt = machine.firstBucketSent }
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

        /// Runs `work` on its own thread, reading ahead meanwhile; its result.
        func overlapped<T>(_ work: @escaping () throws(BridgeError) -> T) throws(BridgeError) -> T {
            guard open != nil, aheadEnd == nil, aggregator.readsWithoutStore else { return try work() }
            let step = BackgroundStep(work)
            while !step.isDone, aheadEnd == nil,
                  aheadPoints < machine.settings.maxPointsPerRequest, aheadBytes < machine.settings.requestBudget {
                do throws(BridgeError) {
                    guard let bucket = try readBucket() else {
                        aheadEnd = .success(())
                        break
                    }
                    ahead.append(bucket)
                    aheadPoints += bucket.points
                    aheadBytes += bucket.bytes
                } catch {
                    aheadEnd = .failure(error)
                }
            }
            return try step.wait()
        }

        var action = machine.start()
        while true {
            switch action {
            case .query, .deliver:
                if stop?.isStopped == true {
                    logger.notice("stopping for shutdown: nothing more is queried or sent", metadata: [
                        "watermark": "\(UTCInstant(unixNanoseconds: machine.watermark).iso8601)",
                    ])
                    summary.record(machine)
                    return
                }
            default:
                break
            }
            switch action {
            case .query(let window):
                open?.stream.close()
                let stream = try query(window)
                open = (stream, try BucketReader(pipeline: pipeline, stream: stream, window: window, planner: planner, admission: aggregator,
                                                 table: table, digestsFrom: machine.digestsFrom))
                action = .read
                continue
            case .read:
                if !ahead.isEmpty {
                    let bucket = ahead.removeFirst()
                    aheadPoints -= bucket.points
                    aheadBytes -= bucket.bytes
                    action = machine.read(bucket)
                    break
                }
                if let end = aheadEnd {
                    aheadEnd = nil
                    try end.get()  // a read that failed while a batch was in flight
                    action = machine.endOfChunk()
                    break
                }
                guard let bucket = try readBucket() else {
                    action = machine.endOfChunk()
                    break
                }
                action = machine.read(bucket)
            case .deliver(let requests):
                do { try ledger.confirmHeld(pipeline: pipeline.name) } catch {
                    throw BridgeError(.checkpoint, "lost the checkpoint store before sending a batch: \(error)", pipeline: pipeline.name, underlying: error)
                }
                let sink = self.sink
                let ack = try overlapped { () throws(BridgeError) in try sink.send(requests) }
                if ack.rejected > 0 {
                    logger.warning("receiver rejected points of an acknowledged batch", metadata: [
                        "rejected": "\(ack.rejected)", "message": "\(ack.message ?? "")",
                    ])
                }
                action = machine.acknowledged(ack)
            case .commit(let batch):
                let ledger = self.ledger, name = pipeline.name
                try overlapped { () throws(BridgeError) in
                    do { try ledger.commit(batch) } catch {
                        throw BridgeError(.checkpoint, batch.pointsExported > 0
                            ? "the batch up to \(batch.watermark.iso8601) was acknowledged but its checkpoint could not be committed (it will be sent again): \(error)"
                            : "\(error)", pipeline: name, underlying: error)
                    }
                }
                action = machine.committed()
                summary.record(machine)
                progress.advanced(pipeline: pipeline.name, done: machine.bucketsDone, rows: machine.rowsRead, points: machine.pointsExported)
            case .loadDigests(let from, let to):
                // Everything was exported and committed: a failing check is reported, not fatal.
                do {
                    let stored = try ledger.bucketDigests(pipeline: pipeline.name, from: UTCInstant(unixNanoseconds: from), to: UTCInstant(unixNanoseconds: to))
                    action = machine.digestsLoaded(Dictionary(uniqueKeysWithValues: stored.map { ($0.key.unixNanoseconds, $0.value) }))
                } catch {
                    lateDataCheckFailed(error)
                    action = .finish
                }
            case .readDigests(let windows):
                do {
                    action = machine.digestsRead(try digests(of: windows))
                } catch {
                    lateDataCheckFailed(error)
                    action = .finish
                }
            case .foldLate(let from, let to, let windows):
                do {
                    action = machine.lateFolded(try foldLate(from: from, to: to, windows: windows))
                } catch {
                    // Nothing is folded unless the baseline moves with it.
                    aggregator.dropCarry()
                    carryAt = nil
                    logger.warning("late-data check failed; late rows are not folded in this pass", metadata: ["error": "\(redact("\(error)"))"])
                    action = machine.lateFolded(nil)
                }
            case .readOld(let windows, let fold):
                let (rows, points) = try readOld(windows, fold: fold)
                action = machine.oldRead(rows: rows, points: points)
            case .recordLateBuckets(let late):
                logger.warning("rows arrived after their bucket was exported; they are not in the exported data (consider a longer lag)", metadata: [
                    "late_buckets": "\(late.count)",
                    "buckets": "\(late.prefix(5).map(\.bucketStart.iso8601).joined(separator: ", "))\(late.count > 5 ? ", …" : "")",
                    "lag": "\(pipeline.lagSeconds)s",
                ])
                summary.record(machine)
                do {
                    try ledger.recordLateBuckets(pipeline: pipeline.name, runID: machine.settings.runID, digests: late)
                    action = machine.recorded()
                } catch {
                    lateDataCheckFailed(error)
                    action = .finish
                }
            case .finish:
                summary.record(machine)
                return
            }
        }
    }

    private func query(_ window: TimeWindow) throws(BridgeError) -> ClickHouseRowStream {
        logger.debug("querying", metadata: ["window": "\(window)"])
        do {
            return try clickhouse.query(WindowQuery.sql(for: pipeline), parameters: WindowQuery.parameters(for: pipeline, window: window))
        } catch {
            throw BridgeError(.query, error.description, pipeline: pipeline.name, file: pipeline.queryFile, underlying: error)
        }
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
        logger.warning("late-data check failed; the export itself succeeded", metadata: ["error": "\(redact("\(error)"))"])
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

extension PassSummary {
    /// The machine's counters: what is committed so far.
    mutating func record(_ machine: PassMachine) {
        watermarkAfter = machine.watermark
        rowsRead = machine.rowsRead
        pointsExported = machine.pointsExported
        pointsRejected = machine.pointsRejected
        batches = machine.batches
        queries = machine.queries
        lateBuckets = machine.lateBuckets
        lateFolded = machine.lateFolded
        pointsSkipped = machine.pointsSkipped
        lateUnfolded = machine.lateUnfolded
    }
}
