import ClickHouse
import Foundation
import OTLP
import PipelineConfig
import UTCTime

/// One series' checked value in one bucket.
package struct BucketObservation {
    /// The series' index in the pass's ``SeriesTable``.
    package let series: Int
    package var observation: Observation
    /// The request behind the point, when its metric has an exemplar column: of the rows merged
    /// into the observation, the one of the largest value (the earlier on a tie).
    package var exemplar: Exemplar? = nil

    /// The exemplar of two merged observations.
    static func larger(_ a: Exemplar?, _ b: Exemplar?) -> Exemplar? {
        guard let a else { return b }
        guard let b else { return a }
        return b.value > a.value ? b : a
    }
}

/// A complete bucket of a query's result.
package struct ResultBucket {
    package let start: Int64
    /// One observation per series, in the order the series first appeared: result rows of one
    /// series merged, series past the metric's cardinality limit aggregated into its overflow
    /// series. Empty when read for digests only.
    package var observations: [BucketObservation]
    /// Result rows the bucket was read from.
    package var rows: Int
    /// The digest of its rows as ClickHouse returned them (before any merge); empty for a bucket
    /// before the reader's `digestsFrom`.
    package var digest: BucketDigest
    /// Rows whose series already had a row in the bucket (two result groups that are one series:
    /// `''` and NULL both omit an attribute), merged into it.
    package var mergedRows = 0
    /// Distinct series aggregated into an overflow series, by metric name.
    package var overflowed: [String: Int] = [:]

    /// A bucket without rows at `start` (it may still carry late rows folded into it).
    package static func empty(at start: Int64) -> ResultBucket {
        ResultBucket(start: start, observations: [], rows: 0, digest: BucketDigest())
    }
}

/// Decides, for a series not yet seen in the current bucket, whether it keeps its own attributes
/// or goes to its metric's overflow series (the cardinality limit).
package protocol SeriesAdmission: AnyObject {
    func admit(_ series: Int, metric: ResultBinding.BoundMetric, bucketStart: Int64, admittedInBucket: Int) throws(BridgeError) -> Bool
}

/// Reads one query's rows bucket by bucket: checks every row (bucket inside the window and
/// aligned, buckets in ascending order, values that fit their mapping) and hands out a bucket
/// once the next bucket, or the end of the result, shows it is complete. Memory holds one bucket
/// of at most (cardinality limit) series per metric, whatever the result holds: rows of a series
/// seen before in the bucket are merged into it, series past the limit into the overflow series.
/// The export and the late-data check read results through it alike (the check with no
/// admission: it keeps only digests).
///
/// Per row, nothing is built from the attribute values: the row leads to its series' index through
/// the pass's ``SeriesTable``, which builds a series' attributes and key once. The reader's own
/// per-series bookkeeping (the bucket a series was last seen in, its slot there, whether it went
/// to the overflow series) is in arrays of its own, by series index.
package struct BucketReader {
    package let pipeline: PipelineConfiguration
    package let stream: any ClickHouseRows
    package let binding: ResultBinding
    package let window: TimeWindow
    package let planner: WindowPlanner
    /// `nil`: read for digests only, keep no observations.
    package let admission: (any SeriesAdmission)?
    package let table: SeriesTable
    /// Buckets before this carry no digest (they are too old for the late-data check).
    package let digestsFrom: Int64
    private var row: [ClickHouseValue] = []
    private var raw = RawRow()
    private var rowNumber = 0
    /// The first row of the next bucket, already read and checked.
    private var carried: (start: Int64, observations: [RowObservation])?
    /// The observations of the row just read.
    private var rowObservations: [RowObservation] = []

    /// One metric's observation in the row just read.
    private struct RowObservation {
        var series: Int
        var metric: Int
        var observation: Observation
        var exemplar: Exemplar?
    }
    private var ended = false
    /// Series in the last bucket: room for as many in the next (buckets are alike).
    private var lastBucketSeries = 0
    /// Per metric: its overflow series, once needed (-1 before).
    private var overflowSeries: [Int]
    // Per series index: the bucket generation it was last seen in, its slot there, and the
    // generation in which it went to the overflow series.
    private var seenIn: [Int] = []
    private var slot: [Int] = []
    private var overflowedIn: [Int] = []

    /// The attribute set of every metric's overflow series (the OpenTelemetry SDK's).
    package static let overflowAttributes = [Attribute("otel.metric.overflow", .bool(true))]
    package static let overflowKey = SeriesAggregator.seriesKey(overflowAttributes)

    package init(pipeline: PipelineConfiguration, stream: any ClickHouseRows, window: TimeWindow, planner: WindowPlanner,
                 admission: (any SeriesAdmission)?, table: SeriesTable = SeriesTable(), digestsFrom: Int64 = .min) throws(BridgeError) {
        self.pipeline = pipeline
        self.stream = stream
        self.binding = try ResultBinding(pipeline: pipeline, columns: stream.columns)
        self.window = window
        self.planner = planner
        self.admission = admission
        self.table = table
        self.digestsFrom = digestsFrom
        self.overflowSeries = Array(repeating: -1, count: pipeline.metrics.count)
    }

    /// The next complete bucket, or `nil` after the last.
    package mutating func next() throws(BridgeError) -> ResultBucket? {
        let start: Int64
        if let c = carried {
            start = c.start
            rowObservations = c.observations
            carried = nil  // the buffer is this reader's alone again
        } else {
            guard let s = try readRow() else { return nil }
            start = s
        }
        let generation = table.nextBucket(keeping: rowObservations.map(\.series))
        var bucket = ResultBucket(start: start, observations: [], rows: 0, digest: BucketDigest())
        if admission != nil { bucket.observations.reserveCapacity(lastBucketSeries) }
        defer { lastBucketSeries = bucket.observations.count }
        let digests = start >= digestsFrom
        // Per metric: how many series were admitted with their own attributes.
        var admitted = [Int](repeating: 0, count: binding.metrics.count)
        var rowStart = start
        while true {
            bucket.rows += 1
            var merged = false
            if seenIn.count < table.count { grow() }
            for k in rowObservations.indices {
                // Read in place (a whole copy of the row's observation costs a value-witness call).
                let series = rowObservations[k].series, m = rowObservations[k].metric
                if digests { bucket.digest.add(seed: table.digestSeed(series), rowObservations[k].observation) }
                guard let admission else { continue }
                if seenIn[series] == generation {
                    let i = slot[series]
                    bucket.observations[i].observation = try merge(bucket.observations[i].observation, rowObservations[k].observation, metric: binding.metrics[m])
                    bucket.observations[i].exemplar = BucketObservation.larger(bucket.observations[i].exemplar, rowObservations[k].exemplar)
                    if overflowedIn[series] != generation { merged = true }  // not a merge of two groups: the overflow
                    continue
                }
                // A series new in the bucket: its own slot, or its metric's overflow series' (the
                // overflow series itself has a slot of its own).
                var target = series
                if !table.isOverflow[series] {
                    if try admission.admit(series, metric: binding.metrics[m], bucketStart: start, admittedInBucket: admitted[m]) {
                        admitted[m] += 1
                    } else {
                        overflowedIn[series] = generation
                        bucket.overflowed[binding.metrics[m].mapping.name, default: 0] += 1
                        target = overflowSeries(m)
                        if seenIn.count < table.count { grow() }
                    }
                }
                if seenIn[target] == generation {  // the overflow series, placed by another series
                    let i = slot[target]
                    bucket.observations[i].observation = try merge(bucket.observations[i].observation, rowObservations[k].observation, metric: binding.metrics[m])
                    bucket.observations[i].exemplar = BucketObservation.larger(bucket.observations[i].exemplar, rowObservations[k].exemplar)
                } else {
                    seenIn[target] = generation
                    slot[target] = bucket.observations.count
                    bucket.observations.append(BucketObservation(series: target, observation: rowObservations[k].observation, exemplar: rowObservations[k].exemplar))
                }
                // Its later rows in the bucket go where this one went.
                seenIn[series] = generation
                slot[series] = slot[target]
            }
            if merged { bucket.mergedRows += 1 }
            guard let nextStart = try readRow() else { break }
            if nextStart != rowStart {
                guard nextStart > rowStart else {
                    throw BridgeError(.result, "row \(rowNumber): bucket \(UTCInstant(unixNanoseconds: nextStart).iso8601) comes after \(UTCInstant(unixNanoseconds: rowStart).iso8601); the query must ORDER BY \(pipeline.bucketColumn)",
                                      pipeline: pipeline.name, file: pipeline.queryFile, key: pipeline.bucketColumn)
                }
                carried = (nextStart, rowObservations)
                break
            }
            rowStart = nextStart
        }
        return bucket
    }

    private mutating func overflowSeries(_ m: Int) -> Int {
        if overflowSeries[m] >= 0 { return overflowSeries[m] }
        let s = table.canonicalSeries(metric: m, name: binding.metrics[m].mapping.name, attributes: Self.overflowAttributes)
        table.pin(s)
        overflowSeries[m] = s
        return s
    }

    /// The bookkeeping arrays as long as the table.
    private mutating func grow() {
        let n = table.count - seenIn.count
        seenIn += repeatElement(-1, count: n)
        slot += repeatElement(0, count: n)
        overflowedIn += repeatElement(-1, count: n)
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

    /// Reads and checks one row: its bucket, and its observations into ``rowObservations`` (one
    /// buffer, reused row after row).
    private mutating func readRow() throws(BridgeError) -> Int64? {
        if ended { return nil }
        do {
            guard try stream.next(into: &row, raw: &raw, decode: binding.decodedColumns) else {
                ended = true
                return nil
            }
        } catch {
            throw BridgeError(.query, error.description, pipeline: pipeline.name, file: pipeline.queryFile, underlying: error)
        }
        rowNumber += 1
        // Fixed-width bucket and value columns are read from the row's bytes; a value that fails a
        // check there is decoded and checked again, for the error.
        let bucket: Int64
        if let b = binding.directBucket(in: raw, window: window, planner: planner) {
            bucket = b
        } else {
            if !binding.decodedColumns[binding.bucketColumn] { row[binding.bucketColumn] = raw.value(of: binding.bucketColumn, type: binding.columnTypes[binding.bucketColumn]) }
            bucket = try binding.bucket(row, rowNumber: rowNumber, window: window, planner: planner)
        }
        rowObservations.removeAll(keepingCapacity: true)
        for metric in binding.metrics {
            let observation: Observation
            if let o = binding.directObservation(of: metric, in: raw) {
                observation = o
            } else {
                if let (c, _, _, _) = metric.direct { row[c] = raw.value(of: c, type: binding.columnTypes[c]) }
                guard let o = try binding.observation(of: metric, in: row, rowNumber: rowNumber) else { continue }
                observation = o
            }
            rowObservations.append(RowObservation(series: table.series(of: metric, in: raw, binding: binding), metric: metric.index,
                                                  observation: observation, exemplar: try binding.exemplar(of: metric, in: row, rowNumber: rowNumber)))
        }
        return bucket
    }
}
