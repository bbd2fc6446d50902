import Checkpoints
import Foundation
import OTLP

/// Turns one series' observation in one bucket into an OTLP data point under the configured
/// temporality, and keeps the cumulative state that must be committed with the batch.
///
/// - `cumulative`: Sum values, Histogram counts/sum and Summary count/sum are running totals since
///   the series' first bucket, whose start is the point's `start_time_unix_nano` for ever (it is
///   persisted, so restarts do not reset it). Min, max and quantiles are the bucket's own.
/// - `delta`: the bucket alone; the start time is the bucket start.
///
/// Every point's `time_unix_nano` is the bucket end.
struct SeriesAggregator {
    let pipeline: String
    let temporality: AggregationTemporality
    private var states: [String: SeriesState] = [:]
    /// Series changed since the last `takeChanges()`.
    private var changed: Set<String> = []

    init(pipeline: String, temporality: AggregationTemporality, loaded: [SeriesState]) {
        self.pipeline = pipeline
        self.temporality = temporality
        for s in loaded { states[s.metric + "\u{1}" + s.seriesKey] = s }
    }

    /// The identity of a series: its attributes in a canonical order with their types. Every key
    /// and value is length-prefixed, so no attribute text can imitate a separator.
    static func seriesKey(_ attributes: [Attribute]) -> String {
        var key = ""
        for a in attributes.sorted(by: { $0.key < $1.key }) {
            let (type, text): (String, String) = switch a.value {
            case .string(let s): ("s", s)
            case .int(let i): ("i", String(i))
            case .double(let d): ("d", String(d))
            case .bool(let b): ("b", String(b))
            }
            key += "\(a.key.utf8.count):\(a.key)=\(type)\(text.utf8.count):\(text);"
        }
        return key
    }

    /// Attributes as a JSON object, for operators reading `series_state`.
    static func attributesJSON(_ attributes: [Attribute]) -> String {
        var object: [String: Any] = [:]
        for a in attributes {
            switch a.value {
            case .string(let s): object[a.key] = s
            case .int(let i): object[a.key] = i
            case .double(let d): object[a.key] = d
            case .bool(let b): object[a.key] = b
            }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    enum Point {
        case number(NumberPoint)
        case histogram(HistogramPoint)
        case summary(SummaryPoint)
    }

    /// The point of `observation` for the bucket `[bucketStart, bucketEnd)`.
    mutating func point(
        metric: MetricMapping, attributes: [Attribute], seriesKey: String, bucketStart: Int64, bucketEnd: Int64,
        observation: Observation
    ) throws(BridgeError) -> Point {
        let end = UInt64(bucketEnd)
        if case .gauge = metric.kind {
            switch observation {
            case .int(let v): return .number(NumberPoint(attributes: attributes, startTimeUnixNano: UInt64(bucketStart), timeUnixNano: end, value: .int(v)))
            case .double(let v): return .number(NumberPoint(attributes: attributes, startTimeUnixNano: UInt64(bucketStart), timeUnixNano: end, value: .double(v)))
            default: break
            }
        }
        guard temporality == .cumulative else {
            let start = UInt64(bucketStart)
            switch observation {
            case .int(let v): return .number(NumberPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, value: .int(v)))
            case .double(let v): return .number(NumberPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, value: .double(v)))
            case .histogram(let count, let sum, let min, let max, let buckets):
                return .histogram(HistogramPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, count: count, sum: sum,
                                                 bucketCounts: buckets, explicitBounds: bounds(metric), min: min, max: max))
            case .summary(let count, let sum, let quantiles):
                return .summary(SummaryPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, count: count, sum: sum,
                                             quantiles: summaryQuantiles(metric, quantiles)))
            }
        }

        let id = metric.name + "\u{1}" + seriesKey
        var state = states[id] ?? SeriesState(
            metric: metric.name, seriesKey: seriesKey, attributesJSON: Self.attributesJSON(attributes),
            startTime: Self.date(bucketStart), lastBucketEnd: Self.date(bucketStart), intTotal: nil, doubleTotal: nil,
            count: nil, sum: nil, bucketCounts: nil)
        let start = UInt64(Self.nanoseconds(state.startTime))
        if states[id] != nil, bucketStart < Self.nanoseconds(state.lastBucketEnd) {
            // Adding a bucket the running total already holds would count it twice.
            throw BridgeError(.result, "\(metric.name) {\(seriesKey)}: bucket \(Timestamp.iso8601(bucketStart)) is before the end of the last bucket already in its cumulative total (\(Timestamp.iso8601(Self.nanoseconds(state.lastBucketEnd)))); rewind the pipeline to restart its series",
                              pipeline: pipeline)
        }
        func overflow(_ what: String) -> BridgeError {
            BridgeError(.result, "the cumulative \(what) of \(metric.name) {\(seriesKey)} overflows 64 bits; rewind the pipeline to restart its series", pipeline: pipeline)
        }
        let point: Point
        switch observation {
        case .int(let v):
            let (total, o) = (state.intTotal ?? 0).addingReportingOverflow(v)
            if o { throw overflow("sum") }
            state.intTotal = total
            point = .number(NumberPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, value: .int(total)))
        case .double(let v):
            let total = (state.doubleTotal ?? 0) + v
            state.doubleTotal = total
            point = .number(NumberPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, value: .double(total)))
        case .histogram(let count, let sum, let min, let max, let buckets):
            var totals = state.bucketCounts ?? Array(repeating: 0, count: buckets.count)
            guard totals.count == buckets.count else {
                throw BridgeError(.result, "\(metric.name) {\(seriesKey)} has \(buckets.count) buckets but its stored state has \(totals.count); the bounds changed — rewind the pipeline to restart its series", pipeline: pipeline)
            }
            for i in totals.indices {
                let (t, o) = totals[i].addingReportingOverflow(Int64(buckets[i]))
                if o { throw overflow("bucket count") }
                totals[i] = t
            }
            let (c, o) = (state.count ?? 0).addingReportingOverflow(Int64(count))
            if o { throw overflow("count") }
            state.count = c
            state.sum = (state.sum ?? 0) + sum
            state.bucketCounts = totals
            point = .histogram(HistogramPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, count: UInt64(c), sum: state.sum,
                                              bucketCounts: totals.map { UInt64($0) }, explicitBounds: bounds(metric), min: min, max: max))
        case .summary(let count, let sum, let quantiles):
            let (c, o) = (state.count ?? 0).addingReportingOverflow(Int64(count))
            if o { throw overflow("count") }
            state.count = c
            state.sum = (state.sum ?? 0) + sum
            point = .summary(SummaryPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, count: UInt64(c), sum: state.sum ?? 0,
                                          quantiles: summaryQuantiles(metric, quantiles)))
        }
        state.lastBucketEnd = Self.date(bucketEnd)
        states[id] = state
        changed.insert(id)
        return point
    }

    /// The series states changed since the last call, to commit with the batch.
    mutating func takeChanges() -> [SeriesState] {
        defer { changed.removeAll() }
        return changed.sorted().compactMap { states[$0] }
    }

    private func bounds(_ metric: MetricMapping) -> [Double] {
        if case .histogram(let b, _, _, _, _, _) = metric.kind { return b }
        return []
    }

    private func summaryQuantiles(_ metric: MetricMapping, _ values: [Double]) -> [SummaryPoint.Quantile] {
        guard case .summary(let levels, _, _, _) = metric.kind else { return [] }
        return zip(levels, values).map { SummaryPoint.Quantile(quantile: $0, value: $1) }
    }

    static func date(_ ns: Int64) -> Date {
        Date(timeIntervalSince1970: Double(ns / 1_000) / 1_000_000)
    }

    static func nanoseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) * 1_000
    }
}
