import ClickHouse
import Foundation
import OTLP
import PipelineConfig
import UTCTime

/// One series' checked value in one bucket.
package struct BucketObservation {
    package let metric: ResultBinding.BoundMetric
    package var attributes: [Attribute]
    package var seriesKey: String
    package var observation: Observation
}

/// A complete bucket of a query's result.
package struct ResultBucket {
    package let start: Int64
    /// One observation per series: result rows of one series merged, series past the metric's
    /// cardinality limit aggregated into its overflow series. Empty when read for digests only.
    package var observations: [BucketObservation]
    /// Result rows the bucket was read from.
    package var rows: Int
    /// The digest of its rows as ClickHouse returned them (before any merge).
    package var digest: BucketDigest
    /// Rows whose series already had a row in the bucket (two result groups that are one series:
    /// `''` and NULL both omit an attribute), merged into it.
    package var mergedRows = 0
    /// Distinct series aggregated into an overflow series, by metric name.
    package var overflowed: [String: Int] = [:]
}

/// Decides, for a series not yet seen in the current bucket, whether it keeps its own attributes
/// or goes to its metric's overflow series (the cardinality limit).
package protocol SeriesAdmission: AnyObject {
    func admit(metric: MetricMapping, seriesKey: String, bucketStart: Int64, admittedInBucket: Int) throws(BridgeError) -> Bool
}

/// Reads one query's rows bucket by bucket: checks every row (bucket inside the window and
/// aligned, buckets in ascending order, values that fit their mapping) and hands out a bucket
/// once the next bucket, or the end of the result, shows it is complete. Memory holds one bucket
/// of at most (cardinality limit) series per metric, whatever the result holds: rows of a series
/// seen before in the bucket are merged into it, series past the limit into the overflow series.
/// The export and the late-data check read results through it alike (the check with no
/// admission: it keeps only digests).
package struct BucketReader {
    package let pipeline: PipelineConfiguration
    package let stream: ClickHouseRowStream
    package let binding: ResultBinding
    package let window: TimeWindow
    package let planner: WindowPlanner
    /// `nil`: read for digests only, keep no observations.
    package let admission: (any SeriesAdmission)?
    private var row: [ClickHouseValue] = []
    private var rowNumber = 0
    /// The first row of the next bucket, already read and checked.
    private var carried: (start: Int64, observations: [BucketObservation])?
    private var ended = false

    /// The attribute set of every metric's overflow series (the OpenTelemetry SDK's).
    package static let overflowAttributes = [Attribute("otel.metric.overflow", .bool(true))]
    package static let overflowKey = SeriesAggregator.seriesKey(overflowAttributes)

    package init(pipeline: PipelineConfiguration, stream: ClickHouseRowStream, window: TimeWindow, planner: WindowPlanner,
         admission: (any SeriesAdmission)?) throws(BridgeError) {
        self.pipeline = pipeline
        self.stream = stream
        self.binding = try ResultBinding(pipeline: pipeline, columns: stream.columns)
        self.window = window
        self.planner = planner
        self.admission = admission
    }

    /// The next complete bucket, or `nil` after the last.
    package mutating func next() throws(BridgeError) -> ResultBucket? {
        let first: (Int64, [BucketObservation])?
        if let carried { first = carried } else { first = try readRow() }
        guard let (start, firstObservations) = first else { return nil }
        carried = nil
        var bucket = ResultBucket(start: start, observations: [], rows: 0, digest: BucketDigest())
        // Per metric: series key → index in `bucket.observations`, and how many were admitted.
        var index: [Int: [String: Int]] = [:]
        var admitted: [Int: Int] = [:]
        var overflowSeen: [Int: Set<String>] = [:]
        var rowObservations = firstObservations
        var rowStart = start
        while true {
            bucket.rows += 1
            var merged = false
            for o in rowObservations {
                bucket.digest.add(o)
                guard let admission else { continue }
                let m = o.metric.index
                if let i = index[m]?[o.seriesKey] {
                    bucket.observations[i].observation = try merge(bucket.observations[i].observation, o.observation, metric: o.metric)
                    merged = true
                    continue
                }
                var target = o
                if o.seriesKey == Self.overflowKey {
                    // The overflow series itself has a slot of its own.
                } else if try !admission.admit(metric: o.metric.mapping, seriesKey: o.seriesKey, bucketStart: start, admittedInBucket: admitted[m, default: 0]) {
                    if overflowSeen[m, default: []].insert(o.seriesKey).inserted { bucket.overflowed[o.metric.mapping.name, default: 0] += 1 }
                    target.attributes = Self.overflowAttributes
                    target.seriesKey = Self.overflowKey
                    if let i = index[m]?[Self.overflowKey] {
                        bucket.observations[i].observation = try merge(bucket.observations[i].observation, o.observation, metric: o.metric)
                        continue
                    }
                } else {
                    admitted[m, default: 0] += 1
                }
                index[m, default: [:]][target.seriesKey] = bucket.observations.count
                bucket.observations.append(target)
            }
            if merged { bucket.mergedRows += 1 }
            guard let (nextStart, more) = try readRow() else { break }
            if nextStart != rowStart {
                guard nextStart > rowStart else {
                    throw BridgeError(.result, "row \(rowNumber): bucket \(UTCInstant(unixNanoseconds: nextStart).iso8601) comes after \(UTCInstant(unixNanoseconds: rowStart).iso8601); the query must ORDER BY \(pipeline.bucketColumn)",
                                      pipeline: pipeline.name, file: pipeline.queryFile, key: pipeline.bucketColumn)
                }
                carried = (nextStart, more)
                break
            }
            rowStart = nextStart
            rowObservations = more
        }
        return bucket
    }

    /// Two observations of one series in one bucket as one: counts, sums and histogram buckets
    /// add up exactly; min and max are the smaller and larger; a gauge keeps the later value; a
    /// summary keeps count and sum, and has no quantiles (those of two groups cannot be combined).
    private func merge(_ a: Observation, _ b: Observation, metric: ResultBinding.BoundMetric) throws(BridgeError) -> Observation {
        func tooLarge() -> BridgeError {
            BridgeError(.result, "row \(rowNumber): metric \(metric.mapping.name): merging rows of one series overflows",
                        pipeline: pipeline.name, file: pipeline.queryFile)
        }
        if case .gauge = metric.mapping.kind { return b }
        switch (a, b) {
        case (.int(let x), .int(let y)):
            let (r, o) = x.addingReportingOverflow(y)
            if o { throw tooLarge() }
            return .int(r)
        case (.double(let x), .double(let y)):
            guard (x + y).isFinite else { throw tooLarge() }
            return .double(x + y)
        case (.histogram(let c1, let s1, let mn1, let mx1, let b1), .histogram(let c2, let s2, let mn2, let mx2, let b2)):
            let (c, o) = c1.addingReportingOverflow(c2)
            guard !o, c <= UInt64(Int64.max), (s1 + s2).isFinite, b1.count == b2.count else { throw tooLarge() }
            var buckets = b1
            for i in buckets.indices {
                let (v, o) = buckets[i].addingReportingOverflow(b2[i])
                if o { throw tooLarge() }
                buckets[i] = v
            }
            let mn = [mn1, mn2].compactMap { $0 }.min()
            let mx = [mx1, mx2].compactMap { $0 }.max()
            return .histogram(count: c, sum: s1 + s2, min: mn, max: mx, buckets: buckets)
        case (.summary(let c1, let s1, _), .summary(let c2, let s2, _)):
            let (c, o) = c1.addingReportingOverflow(c2)
            guard !o, c <= UInt64(Int64.max), (s1 + s2).isFinite else { throw tooLarge() }
            return .summary(count: c, sum: s1 + s2, quantiles: [])
        default:
            return b
        }
    }

    /// Reads and checks one row: its bucket and its observations.
    private mutating func readRow() throws(BridgeError) -> (Int64, [BucketObservation])? {
        if ended { return nil }
        do {
            guard try stream.next(into: &row) else {
                ended = true
                return nil
            }
        } catch {
            throw BridgeError(.query, error.description, pipeline: pipeline.name, file: pipeline.queryFile, underlying: error)
        }
        rowNumber += 1
        let bucket = try binding.bucket(row, rowNumber: rowNumber, window: window, planner: planner)
        var observations: [BucketObservation] = []
        for metric in binding.metrics {
            guard let observation = try binding.observation(of: metric, in: row, rowNumber: rowNumber) else { continue }
            let attributes = binding.attributes(of: metric, in: row)
            observations.append(BucketObservation(metric: metric, attributes: attributes,
                                                  seriesKey: SeriesAggregator.seriesKey(attributes), observation: observation))
        }
        return (bucket, observations)
    }
}
