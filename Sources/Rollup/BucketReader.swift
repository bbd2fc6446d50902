import ClickHouse
import Foundation
import OTLP

/// One series' checked value in one bucket.
struct BucketObservation {
    let metric: ResultBinding.BoundMetric
    let attributes: [Attribute]
    let seriesKey: String
    let observation: Observation
}

/// A complete bucket of a query's result.
struct ResultBucket {
    let start: Int64
    let observations: [BucketObservation]
    /// Result rows the bucket was read from.
    let rows: Int
}

/// Reads one query's rows bucket by bucket: checks every row (bucket inside the window and
/// aligned, buckets in ascending order, values that fit their mapping, no series twice in a bucket)
/// and hands out a bucket once the next bucket, or the end of the result, shows it is complete.
/// The export and the late-data check read results through it alike.
struct BucketReader {
    let pipeline: PipelineConfiguration
    let stream: ClickHouseRowStream
    let binding: ResultBinding
    let window: TimeWindow
    let planner: WindowPlanner
    private var row: [ClickHouseValue] = []
    private var rowNumber = 0
    /// The first row of the next bucket, already read and checked.
    private var carried: (start: Int64, observations: [BucketObservation])?
    private var ended = false

    init(pipeline: PipelineConfiguration, stream: ClickHouseRowStream, window: TimeWindow, planner: WindowPlanner) throws(BridgeError) {
        self.pipeline = pipeline
        self.stream = stream
        self.binding = try ResultBinding(pipeline: pipeline, columns: stream.columns)
        self.window = window
        self.planner = planner
    }

    /// The next complete bucket, or `nil` after the last.
    mutating func next() throws(BridgeError) -> ResultBucket? {
        let first: (Int64, [BucketObservation])?
        if let carried { first = carried } else { first = try readRow() }
        guard let (start, firstObservations) = first else { return nil }
        var observations = firstObservations
        carried = nil
        var rows = 1
        var seen = Set(observations.map { $0.metric.mapping.name + "\u{1}" + $0.seriesKey })
        while let (nextStart, more) = try readRow() {
            if nextStart != start {
                guard nextStart > start else {
                    throw BridgeError(.result, "row \(rowNumber): bucket \(Timestamp.iso8601(nextStart)) comes after \(Timestamp.iso8601(start)); the query must ORDER BY \(pipeline.bucketColumn)",
                                      pipeline: pipeline.name, file: pipeline.queryFile, key: pipeline.bucketColumn)
                }
                carried = (nextStart, more)
                break
            }
            rows += 1
            for o in more {
                guard seen.insert(o.metric.mapping.name + "\u{1}" + o.seriesKey).inserted else {
                    throw BridgeError(.result, "row \(rowNumber): metric \(o.metric.mapping.name) has two rows for the series {\(o.attributes.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))} in bucket \(Timestamp.iso8601(start)); GROUP BY every attribute column",
                                      pipeline: pipeline.name, file: pipeline.queryFile)
                }
            }
            observations += more
        }
        return ResultBucket(start: start, observations: observations, rows: rows)
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

/// A fingerprint of what a bucket contained when it was exported: the number of observations and
/// an order-independent 64-bit hash of them (FNV-1a per observation, summed), so the same rows
/// queried again give the same digest whatever order ClickHouse returns them in.
struct BucketDigest: Equatable {
    var observations = 0
    var hash: UInt64 = 0

    mutating func add(_ o: BucketObservation) {
        observations += 1
        // Doubles to 12 significant digits: a float sum that ClickHouse aggregates in another
        // order differs in its last bits, which is not late data.
        func r(_ d: Double) -> String { String(format: "%.12g", d) }
        let value: String = switch o.observation {
        case .int(let v): "i\(v)"
        case .double(let v): "d" + r(v)
        case .histogram(let count, let sum, let min, let max, let buckets): "h\(count)|\(r(sum))|\(min.map(r) ?? "")|\(max.map(r) ?? "")|\(buckets)"
        case .summary(let count, let sum, let quantiles): "s\(count)|\(r(sum))|\(quantiles.map(r))"
        }
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in (o.metric.mapping.name + "\u{1}" + o.seriesKey + "\u{1}" + value).utf8 {
            h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        hash &+= h
    }

    init() {}

    init(bucket: ResultBucket) {
        for o in bucket.observations { add(o) }
    }

    /// `fingerprint:observations:hash` as stored in `otel_bridge.bucket_digests`; the fingerprint
    /// identifies the pipeline's definition (see ``fingerprint(of:)``), so a digest recorded under
    /// another query, mapping or step is never compared with a new one.
    func text(fingerprint: String) -> String { "\(fingerprint):\(observations):\(String(hash, radix: 16))" }

    /// A short hash of what decides a bucket's contents: the SQL, the parameters, the step, the
    /// bucket column and the metric mappings.
    static func fingerprint(of pipeline: PipelineConfiguration) -> String {
        var text = pipeline.sql + "\u{1}\(pipeline.stepSeconds)\u{1}" + pipeline.bucketColumn
        for p in pipeline.parameters { text += "\u{1}\(p.name)=\(p.value.encoded)" }
        for m in pipeline.metrics {
            text += "\u{1}\(m.name)|\(m.dataTypeName)|\(m.columns)|\(m.staticAttributes.map { "\($0.key)=\($0.value)" })"
        }
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return String(h, radix: 36)
    }
}
