import Checkpoints
import ClickHouse
import Foundation
import Logging
import OTLP

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
    public var error: String?

    public enum Status: String, Sendable { case ok, failed, skipped, disabled }
}

/// One pass of one pipeline: every closed bucket since its watermark, query chunk by query chunk.
///
/// The path of a window, in order:
/// 1. ``WindowPlanner`` cuts `[watermark, last closed bucket end)` into query chunks.
/// 2. The chunk's query streams rows from ClickHouse; ``ResultBinding`` checks the header once and
///    each row as it arrives (bucket in window and aligned, rows ordered by bucket, values finite,
///    counts non-negative, no series twice in a bucket).
/// 3. ``SeriesAggregator`` turns each row's values into points under the temporality.
/// 4. Completed buckets join the pending batch; once it holds `max_points_per_request` points it
///    is delivered, and only after the receiver acknowledged it does
/// 5. ``CheckpointStore/commitBatch`` move the watermark to the end of the batch's last bucket, in
///    the same transaction as the run's counters and the cumulative series state.
/// At the end of each chunk the rest is delivered and the watermark moves to the chunk end (empty
/// buckets included). Any failure stops the pass; what was committed stays, nothing else moves.
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
    private var aggregator: SeriesAggregator

    init(
        pipeline: PipelineConfiguration, clickhouse: ClickHouseClient, store: CheckpointStore, sink: PointSink, dryRun: Bool,
        temporality: AggregationTemporality, resource: [Attribute], scope: InstrumentationScope, logger: Logger,
        loadedSeries: [SeriesState]
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
        self.aggregator = SeriesAggregator(pipeline: pipeline.name, temporality: temporality, loaded: loadedSeries)
    }

    /// Runs the pass from `watermark` at `now`. `runID` is the `otel_bridge.runs` row (nil in a
    /// dry run). Updates `summary` as batches commit, so a failure still reports progress.
    func run(watermark: Int64, now: Int64, runID: Int64?, summary: inout PassSummary) throws(BridgeError) {
        var committed = watermark
        let chunks = planner.chunks(watermark: watermark, now: now)
        if chunks.isEmpty, !dryRun, let runID {
            // Nothing closed since the last pass: record the empty window [watermark, watermark).
            do {
                try store.commitBatch(pipeline: pipeline.name, runID: runID, newWatermark: SeriesAggregator.date(watermark),
                                      rowsRead: 0, pointsExported: 0, pointsRejected: 0, series: [])
            } catch {
                throw BridgeError(.checkpoint, "\(error)", pipeline: pipeline.name, underlying: error)
            }
        }
        for chunk in chunks {
            try runChunk(chunk, committed: &committed, runID: runID, summary: &summary)
        }
    }

    /// Points of completed buckets not yet delivered, by metric index.
    private struct PendingBatch {
        var points: [Int: [SeriesAggregator.Point]] = [:]
        var count = 0
        var rows: Int64 = 0
        var lastBucketEnd: Int64?

        mutating func add(_ bucket: [(Int, SeriesAggregator.Point)], end: Int64) {
            for (metric, point) in bucket { points[metric, default: []].append(point) }
            count += bucket.count
            lastBucketEnd = end
        }
    }

    private func runChunk(_ chunk: TimeWindow, committed: inout Int64, runID: Int64?, summary: inout PassSummary) throws(BridgeError) {
        logger.debug("querying", metadata: ["pipeline": "\(pipeline.name)", "window": "\(chunk)"])
        let stream: ClickHouseRowStream
        do {
            stream = try clickhouse.query(pipeline.sql, parameters: WindowParameters.values(for: pipeline, window: chunk))
        } catch {
            throw BridgeError(.query, error.description, pipeline: pipeline.name, file: pipeline.queryFile, underlying: error)
        }
        defer { stream.close() }
        summary.queries += 1
        let binding = try ResultBinding(pipeline: pipeline, columns: stream.columns)
        let step = pipeline.stepSeconds * 1_000_000_000

        var pending = PendingBatch()
        var bucketPoints: [(Int, SeriesAggregator.Point)] = []
        var bucketSeries: Set<String> = []
        var currentBucket: Int64?
        var row: [ClickHouseValue] = []
        var rowNumber = 0
        while true {
            let more: Bool
            do {
                more = try stream.next(into: &row)
            } catch {
                throw BridgeError(.query, error.description, pipeline: pipeline.name, file: pipeline.queryFile, underlying: error)
            }
            guard more else { break }
            rowNumber += 1
            pending.rows += 1
            let bucket = try binding.bucket(row, rowNumber: rowNumber, window: chunk, planner: planner)
            if bucket != currentBucket {
                if let current = currentBucket {
                    guard bucket > current else {
                        throw BridgeError(.result, "row \(rowNumber): bucket \(Timestamp.iso8601(bucket)) comes after \(Timestamp.iso8601(current)); the query must ORDER BY \(pipeline.bucketColumn)",
                                          pipeline: pipeline.name, file: pipeline.queryFile, key: pipeline.bucketColumn)
                    }
                    pending.add(bucketPoints, end: current + step)
                    bucketPoints.removeAll(keepingCapacity: true)
                    bucketSeries.removeAll(keepingCapacity: true)
                    if pending.count >= pipeline.maxPointsPerRequest {
                        try deliver(&pending, upTo: current + step, committed: &committed, runID: runID, summary: &summary)
                    }
                }
                currentBucket = bucket
            }
            for metric in binding.metrics {
                guard let observation = try binding.observation(of: metric, in: row, rowNumber: rowNumber) else { continue }
                let attributes = binding.attributes(of: metric, in: row)
                let key = SeriesAggregator.seriesKey(attributes)
                guard bucketSeries.insert(metric.mapping.name + "\u{1}" + key).inserted else {
                    throw BridgeError(.result, "row \(rowNumber): metric \(metric.mapping.name) has two rows for the series {\(attributes.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))} in bucket \(Timestamp.iso8601(bucket)); GROUP BY every attribute column",
                                      pipeline: pipeline.name, file: pipeline.queryFile)
                }
                let point = try aggregator.point(metric: metric.mapping, attributes: attributes, seriesKey: key,
                                                 bucketStart: bucket, bucketEnd: bucket + step, observation: observation)
                bucketPoints.append((metric.index, point))
            }
        }
        if let current = currentBucket { pending.add(bucketPoints, end: current + step) }
        try deliver(&pending, upTo: chunk.end, committed: &committed, runID: runID, summary: &summary)
    }

    /// Delivers the pending batch and, once it is acknowledged, commits the watermark `upTo`.
    private func deliver(_ pending: inout PendingBatch, upTo watermark: Int64, committed: inout Int64, runID: Int64?, summary: inout PassSummary) throws(BridgeError) {
        var ack = ExportAcknowledgement()
        if pending.count > 0 {
            // A lost checkpoint connection would also mean a lost pipeline lock: stop before
            // sending anything another run might send too.
            if !dryRun {
                do { try store.connection.ping() } catch {
                    throw BridgeError(.checkpoint, "lost the checkpoint store before sending a batch: \(error)", pipeline: pipeline.name, underlying: error)
                }
            }
            ack = try sink.deliver(makeBatch(pending), pipeline: pipeline)
            summary.batches += 1
        }
        let changes = aggregator.takeChanges()
        if !dryRun, let runID, watermark > committed || pending.count > 0 {
            do {
                try store.commitBatch(
                    pipeline: pipeline.name, runID: runID, newWatermark: SeriesAggregator.date(watermark), rowsRead: pending.rows,
                    pointsExported: Int64(pending.count), pointsRejected: ack.rejected,
                    rejectionMessage: ack.rejected > 0 || ack.message != nil ? (ack.message ?? "\(ack.rejected) points rejected") : nil,
                    series: changes)
            } catch {
                throw BridgeError(.checkpoint, "the batch up to \(Timestamp.iso8601(watermark)) was acknowledged but its checkpoint could not be committed (it will be sent again): \(error)",
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
        summary.rowsRead += pending.rows
        summary.pointsExported += Int64(pending.count)
        summary.pointsRejected += ack.rejected
        pending = PendingBatch()
    }

    private func makeBatch(_ pending: PendingBatch) -> MetricBatch {
        var metrics: [Metric] = []
        for (index, mapping) in pipeline.metrics.enumerated() {
            guard let points = pending.points[index], !points.isEmpty else { continue }
            let data: MetricData
            switch mapping.kind {
            case .sum(_, _, let monotonic):
                data = .sum(isMonotonic: monotonic, temporality: aggregator.temporality, points: points.compactMap { if case .number(let p) = $0 { p } else { nil } })
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
