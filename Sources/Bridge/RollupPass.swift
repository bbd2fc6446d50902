import Rollup
import Checkpoints
import ClickHouse
import Foundation
import Logging
import OTLP
import PipelineConfig
import UTCTime

/// What one pass of one pipeline did.
public struct PassSummary: Sendable, Equatable {
    public var pipeline: String
    public var status: Status
    /// The watermark before and after the pass.
    public var watermarkBefore: Int64
    public var watermarkAfter: Int64
    public var rowsRead: Int64 = 0
    public var pointsExported: Int64 = 0
    public var pointsRejected: Int64 = 0
    public var batches = 0
    public var queries = 0
    /// Result rows merged into a series that already had a row in their bucket.
    public var mergedRows = 0
    /// Distinct series aggregated into `otel.metric.overflow=true`, by metric (summed over buckets).
    public var seriesOverflowed: [String: Int] = [:]
    /// Exported buckets found changed by late rows (with `late_data_check`).
    public var lateBuckets = 0
    public var error: String?

    public enum Status: String, Sendable { case ok, failed, skipped }
}

/// One pass of one pipeline: every closed bucket since its watermark, query chunk by query chunk.
///
/// The path of a window, in order:
/// 1. ``WindowPlanner`` cuts `[watermark, last closed bucket end)` into query chunks.
/// 2. The chunk's query streams rows from ClickHouse; ``BucketReader`` checks the header once and
///    each row as it arrives (bucket in window and aligned, rows ordered by bucket, values finite,
///    counts non-negative), merges rows of one series, sends series past a metric's cardinality
///    limit to its overflow series, and hands out complete buckets.
/// 3. ``SeriesAggregator`` turns a bucket's observations into points under the temporality.
/// 4. Buckets join the pending batch; before a bucket would push it past `max_points_per_request`
///    the batch is delivered, and only after the receiver acknowledged it does
/// 5. ``CheckpointStore/commitBatch`` move the watermark to the start of the next bucket, in the
///    same transaction as the run's counters and the cumulative series state.
/// At the end of each chunk the rest is delivered and the watermark moves to the chunk end (empty
/// buckets included). Any failure stops the pass; what was committed stays, nothing else moves.
/// With `late_data_check`, the pass then queries recently exported buckets again and reports those
/// whose rows changed since their export (see ``checkLateData(before:now:runID:summary:)``).
final class RollupPass {
    let pipeline: PipelineConfiguration
    let clickhouse: ClickHouseClient
    let store: CheckpointStore
    let sink: PointSink
    /// A dry run delivers to the printer and commits nothing.
    let dryRun: Bool
    let planner: WindowPlanner
    let resource: [Attribute]
    let scope: InstrumentationScope
    let logger: Logger
    private let aggregator: SeriesAggregator
    /// Buckets starting at or after this are recent enough to be checked for late data later.
    private var digestFrom = Int64.max
    private lazy var fingerprint = BucketDigest.fingerprint(of: pipeline)

    init(
        pipeline: PipelineConfiguration, clickhouse: ClickHouseClient, store: CheckpointStore, sink: PointSink, dryRun: Bool,
        temporality: AggregationTemporality, resource: [Attribute], scope: InstrumentationScope, logger: Logger,
        series: any SeriesStateSource
    ) {
        self.pipeline = pipeline
        self.clickhouse = clickhouse
        self.store = store
        self.sink = sink
        self.dryRun = dryRun
        self.planner = WindowPlanner(stepSeconds: pipeline.stepSeconds, lagSeconds: pipeline.lagSeconds, maxBucketsPerQuery: pipeline.maxBucketsPerQuery)
        self.resource = resource
        self.scope = scope
        self.logger = logger
        self.aggregator = SeriesAggregator(pipeline: pipeline.name, temporality: temporality, expirySeconds: pipeline.seriesExpirySeconds, source: series)
    }

    var step: Int64 { pipeline.stepSeconds * 1_000_000_000 }

    /// Runs the pass from `watermark` at `now`. `runID` is the `otel_bridge.runs` row (nil in a
    /// dry run). Updates `summary` as batches commit, so a failure still reports progress.
    func run(watermark: Int64, now: Int64, runID: Int64?, summary: inout PassSummary) throws(BridgeError) {
        var committed = watermark
        if pipeline.lateDataCheckSeconds > 0 && !dryRun {
            digestFrom = planner.alignDown(planner.closedUntil(now: now) - pipeline.lateDataCheckSeconds * 1_000_000_000)
        }
        let chunks = planner.chunks(watermark: watermark, now: now)
        if chunks.isEmpty, !dryRun, let runID {
            // Nothing closed since the last pass: record the empty window [watermark, watermark).
            do {
                try store.commitBatch(pipeline: pipeline.name, runID: runID, newWatermark: UTCInstant(unixNanoseconds: watermark).date,
                                      rowsRead: 0, pointsExported: 0, pointsRejected: 0, series: [])
            } catch {
                throw BridgeError(.checkpoint, "\(error)", pipeline: pipeline.name, underlying: error)
            }
        }
        for chunk in chunks {
            try runChunk(chunk, committed: &committed, runID: runID, summary: &summary)
        }
        if digestFrom != .max, let runID {
            // Everything was exported and committed: a failing check is reported, not fatal.
            do {
                try checkLateData(before: watermark, now: now, runID: runID, summary: &summary)
            } catch {
                logger.warning("late-data check failed; the export itself succeeded", metadata: ["pipeline": "\(pipeline.name)", "error": "\(error.description)"])
            }
        }
    }

    /// A complete bucket not yet delivered: its points, and the series state as it stands after it.
    private struct PendingBucket {
        var start: Int64
        var points: [(metric: Int, point: SeriesAggregator.Point)]
        var rows: Int
        var digest: BucketDigest?
        /// Series aggregated into an overflow series in this bucket.
        var overflowed: Int
        /// Cumulative series changed by this bucket, as they are after it.
        var changes: [SeriesState]
    }

    private func query(_ window: TimeWindow) throws(BridgeError) -> ClickHouseRowStream {
        logger.debug("querying", metadata: ["pipeline": "\(pipeline.name)", "window": "\(window)"])
        do {
            return try clickhouse.query(Self.ordered(pipeline), parameters: WindowParameters.values(for: pipeline, window: window))
        } catch {
            throw BridgeError(.query, error.description, pipeline: pipeline.name, file: pipeline.queryFile, underlying: error)
        }
    }

    private func runChunk(_ chunk: TimeWindow, committed: inout Int64, runID: Int64?, summary: inout PassSummary) throws(BridgeError) {
        let stream = try query(chunk)
        defer { stream.close() }
        summary.queries += 1
        var reader = try BucketReader(pipeline: pipeline, stream: stream, window: chunk, planner: planner, admission: aggregator)
        var pending: [PendingBucket] = []
        var pendingPoints = 0
        while let bucket = try reader.next() {
            if pendingPoints > 0 && pendingPoints + bucket.observations.count > pipeline.maxPointsPerRequest {
                try deliver(pending[...], upTo: bucket.start, committed: &committed, runID: runID, summary: &summary)
                pending.removeAll(keepingCapacity: true)
                pendingPoints = 0
            }
            var points: [(metric: Int, point: SeriesAggregator.Point)] = []
            points.reserveCapacity(bucket.observations.count)
            for o in bucket.observations {
                points.append((o.metric.index, try aggregator.point(
                    metric: o.metric.mapping, attributes: o.attributes, seriesKey: o.seriesKey,
                    bucketStart: bucket.start, bucketEnd: bucket.start + step, observation: o.observation)))
            }
            note(bucket, summary: &summary)
            pending.append(PendingBucket(
                start: bucket.start, points: points, rows: bucket.rows,
                digest: bucket.start >= digestFrom ? bucket.digest : nil,
                overflowed: bucket.overflowed.values.reduce(0, +), changes: aggregator.takeChanges()))
            pendingPoints += points.count
        }
        try deliver(pending[...], upTo: chunk.end, committed: &committed, runID: runID, summary: &summary)
    }

    /// Counts (and logs, the first time in a pass) what the reader merged or sent to overflow.
    private func note(_ bucket: ResultBucket, summary: inout PassSummary) {
        if bucket.mergedRows > 0 {
            if summary.mergedRows == 0 {
                logger.warning("result rows of one series were merged: two groups of the query's result are one series (an attribute that is '' in one and NULL in the other is omitted in both, or the query does not GROUP BY every attribute column)", metadata: [
                    "pipeline": "\(pipeline.name)", "bucket": "\(UTCInstant(unixNanoseconds: bucket.start).iso8601)",
                ])
            }
            summary.mergedRows += bucket.mergedRows
        }
        for (metric, n) in bucket.overflowed.sorted(by: { $0.key < $1.key }) {
            if summary.seriesOverflowed[metric] == nil {
                let limit = pipeline.metrics.first { $0.name == metric }?.cardinalityLimit ?? 0
                logger.warning("metric reached its cardinality limit: further series are aggregated into otel.metric.overflow=true", metadata: [
                    "pipeline": "\(pipeline.name)", "metric": "\(metric)", "cardinality_limit": "\(limit)",
                    "bucket": "\(UTCInstant(unixNanoseconds: bucket.start).iso8601)",
                ])
            }
            summary.seriesOverflowed[metric, default: 0] += n
        }
    }

    /// Delivers `buckets` and, once the receiver acknowledged them, commits the watermark `upTo`
    /// (the next bucket's start, or the chunk end) with the series state as of the last bucket.
    /// Buckets that together encode past `max_request_bytes` are split in two on a bucket boundary
    /// and each half is delivered and committed on its own, so a failure never re-sends a part
    /// that was acknowledged; a single bucket too large for one request goes as several requests.
    private func deliver(_ buckets: ArraySlice<PendingBucket>, upTo watermark: Int64, committed: inout Int64, runID: Int64?, summary: inout PassSummary) throws(BridgeError) {
        let pointCount = buckets.reduce(0) { $0 + $1.points.count }
        var ack = ExportAcknowledgement()
        if pointCount > 0 {
            let requests = try sink.encode(makeBatch(buckets), pipeline: pipeline)
            if requests.count > 1 && buckets.count > 1 {
                let mid = buckets.startIndex + buckets.count / 2
                try deliver(buckets[..<mid], upTo: buckets[mid].start, committed: &committed, runID: runID, summary: &summary)
                try deliver(buckets[mid...], upTo: watermark, committed: &committed, runID: runID, summary: &summary)
                return
            }
            // A lost checkpoint connection would also mean a lost pipeline lock: stop before
            // sending anything another run might send too.
            if !dryRun {
                do { try store.connection.ping() } catch {
                    throw BridgeError(.checkpoint, "lost the checkpoint store before sending a batch: \(error)", pipeline: pipeline.name, underlying: error)
                }
            }
            ack = try sink.send(requests, pipeline: pipeline)
            summary.batches += 1
        }
        let rows = Int64(buckets.reduce(0) { $0 + $1.rows })
        if !dryRun, let runID, watermark > committed || pointCount > 0 {
            // The latest state of every series the buckets changed.
            var latest: [SeriesRef: SeriesState] = [:]
            for bucket in buckets { for state in bucket.changes { latest[SeriesRef(state)] = state } }
            // Digests of every recent bucket the commit covers, empty ones included.
            var digests: [(bucketStart: Date, digest: String)] = []
            if digestFrom != .max {
                let byStart = Dictionary(buckets.compactMap { b in b.digest.map { (b.start, $0) } }, uniquingKeysWith: { a, _ in a })
                var t = max(committed, planner.alignDown(digestFrom))
                while t < watermark {
                    digests.append((UTCInstant(unixNanoseconds: t).date, (byStart[t] ?? BucketDigest()).text(fingerprint: fingerprint)))
                    t += step
                }
            }
            do {
                try store.commitBatch(
                    pipeline: pipeline.name, runID: runID, newWatermark: UTCInstant(unixNanoseconds: watermark).date, rowsRead: rows,
                    pointsExported: Int64(pointCount), pointsRejected: ack.rejected,
                    rejectionMessage: ack.rejected > 0 || ack.message != nil ? (ack.message ?? "\(ack.rejected) points rejected") : nil,
                    series: latest.keys.sorted().map { latest[$0]! },
                    seriesOverflowed: buckets.reduce(0) { $0 + $1.overflowed }, bucketDigests: digests,
                    pruneDigestsBefore: digestFrom == .max ? nil : UTCInstant(unixNanoseconds: planner.alignDown(digestFrom)).date,
                    requireLock: true)
            } catch {
                throw BridgeError(.checkpoint, "the batch up to \(UTCInstant(unixNanoseconds: watermark).iso8601) was acknowledged but its checkpoint could not be committed (it will be sent again): \(error)",
                                  pipeline: pipeline.name, underlying: error)
            }
        }
        if ack.rejected > 0 {
            logger.warning("receiver rejected points of an acknowledged batch", metadata: [
                "pipeline": "\(pipeline.name)", "rejected": "\(ack.rejected)", "message": "\(ack.message ?? "")",
            ])
        }
        committed = max(committed, watermark)
        summary.watermarkAfter = committed
        summary.rowsRead += rows
        summary.pointsExported += Int64(pointCount)
        summary.pointsRejected += ack.rejected
    }

    /// Queries the buckets exported by earlier passes within `late_data_check` again and compares
    /// each with the digest stored at its export. A bucket that differs received rows (or lost
    /// some) after it was exported: those rows are not in the exported data, and a longer `lag`
    /// would have caught them. It is logged and counted in `runs.late_buckets`; nothing is re-sent.
    private func checkLateData(before watermark: Int64, now: Int64, runID: Int64, summary: inout PassSummary) throws(BridgeError) {
        let from = digestFrom
        guard watermark > from else { return }
        let stored: [Date: String]
        do {
            stored = try store.bucketDigests(pipeline: pipeline.name, from: UTCInstant(unixNanoseconds: from).date, to: UTCInstant(unixNanoseconds: watermark).date)
        } catch {
            throw BridgeError(.checkpoint, "\(error)", pipeline: pipeline.name, underlying: error)
        }
        guard !stored.isEmpty else { return }
        var current: [Int64: BucketDigest] = [:]
        for window in WindowPlanner(stepSeconds: pipeline.stepSeconds, lagSeconds: 0, maxBucketsPerQuery: pipeline.maxBucketsPerQuery)
            .chunks(watermark: from, now: watermark) {
            let stream = try query(window)
            defer { stream.close() }
            var reader = try BucketReader(pipeline: pipeline, stream: stream, window: window, planner: planner, admission: nil)
            while let bucket = try reader.next() { current[bucket.start] = bucket.digest }
        }
        var late: [(bucketStart: Date, digest: String)] = []
        for (date, digest) in stored.sorted(by: { $0.key < $1.key }) where digest.hasPrefix(fingerprint + ":") {
            // Digests recorded under another definition of the pipeline are not comparable.
            let now = (current[UTCInstant(date).unixNanoseconds] ?? BucketDigest()).text(fingerprint: fingerprint)
            if now != digest { late.append((date, now)) }
        }
        guard !late.isEmpty else { return }
        summary.lateBuckets = late.count
        logger.warning("rows arrived after their bucket was exported; they are not in the exported data (consider a longer lag)", metadata: [
            "pipeline": "\(pipeline.name)", "late_buckets": "\(late.count)",
            "buckets": "\(late.prefix(5).map { UTCInstant(unixNanoseconds: UTCInstant($0.bucketStart).unixNanoseconds).iso8601 }.joined(separator: ", "))\(late.count > 5 ? ", …" : "")",
            "lag": "\(pipeline.lagSeconds)s",
        ])
        do {
            try store.recordLateBuckets(pipeline: pipeline.name, runID: runID, digests: late)
        } catch {
            throw BridgeError(.checkpoint, "\(error)", pipeline: pipeline.name, underlying: error)
        }
    }

    /// The template wrapped so its rows come in bucket order whatever its own ORDER BY says: a row
    /// of an earlier bucket arriving after a later bucket was committed could not be exported any
    /// more. The template itself is sent unchanged inside the wrapper (no value is spliced).
    ///
    /// Within a bucket, rows come ordered by every attribute column too: which series of a metric
    /// past its cardinality limit keep their own attributes depends on the order they come in,
    /// and a batch sent again after a crash must be the same batch.
    static func ordered(_ pipeline: PipelineConfiguration) -> String {
        var sql = Substring(pipeline.sql)
        while let last = sql.last, last.isWhitespace || last == ";" { sql.removeLast() }
        var columns = [pipeline.bucketColumn]
        for metric in pipeline.metrics { for c in metric.attributeColumns where !columns.contains(c) { columns.append(c) } }
        let keys = columns.map { "`" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "`", with: "\\`") + "`" }
        return "SELECT * FROM (\n\(sql)\n) ORDER BY \(keys.joined(separator: ", "))"
    }

    private func makeBatch(_ buckets: ArraySlice<PendingBucket>) -> MetricBatch {
        var byMetric: [Int: [SeriesAggregator.Point]] = [:]
        for bucket in buckets { for (metric, point) in bucket.points { byMetric[metric, default: []].append(point) } }
        var metrics: [Metric] = []
        for (index, mapping) in pipeline.metrics.enumerated() {
            guard let points = byMetric[index], !points.isEmpty else { continue }
            let data: MetricData
            switch mapping.kind {
            case .sum(let sum):
                data = .sum(isMonotonic: sum.monotonic, temporality: aggregator.temporality, points: points.compactMap { if case .number(let p) = $0 { p } else { nil } })
            case .gauge:
                data = .gauge(points: points.compactMap { if case .number(let p) = $0 { p } else { nil } })
            case .histogram:
                data = .histogram(temporality: aggregator.temporality, points: points.compactMap { if case .histogram(let p) = $0 { p } else { nil } })
            case .summary:
                data = .summary(points: points.compactMap { if case .summary(let p) = $0 { p } else { nil } })
            }
            metrics.append(Metric(name: mapping.name, description: mapping.description, unit: mapping.unit, data: data))
        }
        return MetricBatch(resource: resource, scope: scope, metrics: metrics)
    }
}
