import Checkpoints
import CurlHTTP
import Foundation
import OTLP
import PipelineConfig
import UTCTime

/// Where the aggregator finds the stored cumulative state: the checkpoint store in a pass, a
/// dictionary in tests. Only the series a pass touches are loaded.
package protocol SeriesStateSource {
    /// Stored series per metric name, the overflow series not counted.
    func counts() throws -> [String: Int]
    /// The stored state of those of `ids` the metric has.
    func load(metric: String, ids: [String]) throws -> [SeriesState]
    /// Every stored id of the metric (at most its cardinality limit).
    func ids(metric: String) throws -> Set<String>
    /// Every stored series of the pipeline, in one read; `nil` when the source only loads on
    /// demand.
    func all() throws -> [SeriesState]?
}

extension SeriesStateSource {
    package func all() throws -> [SeriesState]? { nil }
}

/// Turns one series' observation in one bucket into an OTLP data point under the configured
/// temporality, keeps the cumulative state that must be committed with the batch, and decides
/// which series a metric keeps under its cardinality limit.
///
/// - `cumulative`: Sum values, Histogram counts/sum and Summary count/sum are running totals since
///   the series' first bucket, whose start is the point's `start_time_unix_nano` for ever (it is
///   persisted, so restarts do not reset it). Min, max and quantiles are the bucket's own. A
///   series restarts (a new start time, the bucket's values as its totals) when it returns after
///   being idle longer than `series_expiry`, or when a running total would no longer fit (an
///   Int64, a finite double): a backend sees a counter reset, never a wrong value.
/// - `delta`: the bucket alone; the start time is the bucket start.
///
/// Cardinality (the OpenTelemetry SDK's rule): a metric keeps at most `limit - 1` series with
/// their own attributes; others go to one series with `otel.metric.overflow=true`. Cumulative: a
/// stored series always keeps its place; a new one gets a place while the metric has fewer than
/// `limit - 1` stored series. Delta: the first `limit - 1` series of each bucket, in result order.
///
/// Every point's `time_unix_nano` is the bucket end.
package final class SeriesAggregator: SeriesAdmission {
    package let pipeline: String
    package let temporality: AggregationTemporality
    package let expiry: Int64
    private let source: any SeriesStateSource
    /// Series known to the aggregator's own callers by key (``point(metric:attributes:seriesKey:bucketStart:bucketEnd:observation:)``);
    /// a pass's reader hands over its ``Series`` instead.
    private var byKey: [String: Series] = [:]
    /// Stored series per metric, plus those admitted since.
    private var counts: [String: Int]?
    /// Every stored id of a metric at its limit: lookups no longer need the store.
    private var allIDs: [String: Set<String>] = [:]
    /// Every stored series, read at once when the pipeline has at most ``preloadLimit``: then no
    /// series is looked up on its own (a first pass over 1,000 series made 1,000 queries).
    private var preloaded: [SeriesRef: SeriesState]?
    package static let preloadLimit = 100_000

    /// Whether aggregating needs the state source no more: delta, or every stored series read.
    package var readsWithoutStore: Bool { temporality != .cumulative || preloaded != nil }
    /// Series changed since the last `takeChanges()`.
    private var changed: [Series] = []
    private var generation = 0
    /// Series restarted because a total overflowed (for the log).
    private(set) var restartedOnOverflow = 0

    package init(pipeline: String, temporality: AggregationTemporality, expirySeconds: Int64, source: any SeriesStateSource) {
        self.pipeline = pipeline
        self.temporality = temporality
        self.expiry = expirySeconds * 1_000_000_000
        self.source = source
    }

    /// The identity of a series: its attributes in a canonical order with their types. Every key
    /// and value is length-prefixed, so no attribute text can imitate a separator.
    package static func seriesKey(_ attributes: [Attribute]) -> String {
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

    /// Attributes as a JSON object, for operators reading `series_state`: string values escaped
    /// and shortened (a `jsonb` cannot hold a NUL, and the row need not hold 10 kB of a tenant's
    /// text: the series' identity is its id).
    package static func attributesJSON(_ attributes: [Attribute]) -> String {
        var object: [String: String] = [:]  // key → the value's JSON; a later attribute wins
        for a in attributes {
            let key = LogSafe.text(a.key, limit: 128)
            switch a.value {
            case .string(let s): object[key] = jsonString(LogSafe.isPlain(s, limit: 256) ? s : LogSafe.text(s, limit: 256))
            case .int(let i): object[key] = String(i)
            case .double(let d): object[key] = d.isFinite ? "\(d)" : jsonString(String(d))
            case .bool(let b): object[key] = b ? "true" : "false"
            }
        }
        return "{" + object.sorted { $0.key < $1.key }.map { jsonString($0.key) + ":" + $0.value }.joined(separator: ",") + "}"
    }

    /// `text` as a JSON string: quotes, backslashes and control characters escaped.
    private static func jsonString(_ text: String) -> String {
        var out: [UInt8] = [0x22]
        out.reserveCapacity(text.utf8.count + 2)
        let hex = Array("0123456789abcdef".utf8)
        for byte in text.utf8 {
            switch byte {
            case 0x22, 0x5C: out += [0x5C, byte]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0..<0x20: out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(0x22)
        return String(decoding: out, as: UTF8.self)
    }

    package enum Point {
        case number(NumberPoint)
        case histogram(HistogramPoint)
        case summary(SummaryPoint)
    }

    // MARK: - cardinality

    package func admit(_ series: Series, metric: ResultBinding.BoundMetric, bucketStart: Int64, admittedInBucket: Int) throws(BridgeError) -> Bool {
        try admit(series, limit: metric.cardinalityLimit, isGauge: metric.isGauge, admittedInBucket: admittedInBucket)
    }

    private func admit(_ series: Series, limit: Int, isGauge: Bool, admittedInBucket: Int) throws(BridgeError) -> Bool {
        // Cumulative, and stored or admitted before (a bucket read again only to compare, or
        // too old to send, admits without emitting: the series has no state yet).
        if series.hasState || series.admitted { return true }
        let room = limit - 1
        guard temporality == .cumulative, !isGauge else { return admittedInBucket < room }
        if try isStored(series, room: room) { return true }
        var count = try storedCounts()[series.metricName, default: 0]
        guard count < room else { return false }
        count += 1
        counts?[series.metricName] = count
        series.admitted = true
        return true
    }

    /// ``admit(_:metric:bucketStart:admittedInBucket:)`` of the series with this key.
    package func admit(metric: MetricMapping, seriesKey: String, bucketStart: Int64, admittedInBucket: Int) throws(BridgeError) -> Bool {
        try admit(series(metric, key: seriesKey, attributes: []), limit: metric.cardinalityLimit, isGauge: isGauge(metric),
                  admittedInBucket: admittedInBucket)
    }

    /// The aggregator's own series of this metric and key (for callers without a reader).
    private func series(_ metric: MetricMapping, key: String, attributes: [Attribute]) -> Series {
        let k = metric.name + "\u{0}" + key
        if let s = byKey[k] {
            if s.attributes.isEmpty && !attributes.isEmpty { s.attributes = attributes }
            return s
        }
        let s = Series(metric: 0, metricName: metric.name, attributes: attributes, key: key)
        byKey[k] = s
        return s
    }

    private func isGauge(_ metric: MetricMapping) -> Bool {
        if case .gauge = metric.kind { return true }
        return false
    }

    private func storedCounts() throws(BridgeError) -> [String: Int] {
        if let counts { return counts }
        do {
            let loaded = try source.counts()
            counts = loaded
            if loaded.values.reduce(0, +) <= Self.preloadLimit, let all = try source.all() {
                preloaded = Dictionary(all.map { (SeriesRef($0), $0) }, uniquingKeysWith: { a, _ in a })
            }
            return loaded
        } catch {
            throw BridgeError(.checkpoint, "cannot read the series state: \(error)", pipeline: pipeline, underlying: error)
        }
    }

    /// Whether the series is stored, loading its state if it is (once per series and pass).
    private func isStored(_ series: Series, room: Int) throws(BridgeError) -> Bool {
        if series.hasState { return true }
        if series.lookedUp { return false }
        let metric = series.metricName, seriesID = series.ref.id
        do {
            let counts = try storedCounts()
            if let preloaded {
                series.lookedUp = true
                guard var state = preloaded[series.ref] else { return false }
                state.attributesJSON = ""  // stored: its commits update the row
                series.state = state
                return true
            }
            if counts[metric, default: 0] >= room {
                // At the limit, every new series would be looked up in vain: know them all.
                if allIDs[metric] == nil { allIDs[metric] = try source.ids(metric: metric) }
                guard allIDs[metric]!.contains(seriesID) else {
                    series.lookedUp = true
                    return false
                }
            }
            if var state = try source.load(metric: metric, ids: [seriesID]).first {
                state.attributesJSON = ""  // stored: its commits update the row
                series.state = state
                series.lookedUp = true
                return true
            }
        } catch let error as BridgeError {
            throw error
        } catch {
            throw BridgeError(.checkpoint, "cannot read the series state: \(error)", pipeline: pipeline, underlying: error)
        }
        series.lookedUp = true
        return false
    }

    // MARK: - points

    /// The point of `observation` for the bucket `[bucketStart, bucketEnd)`.
    package func point(
        metric: MetricMapping, attributes: [Attribute], seriesKey: String, bucketStart: Int64, bucketEnd: Int64,
        observation: Observation
    ) throws(BridgeError) -> Point {
        let series = series(metric, key: seriesKey, attributes: attributes)
        let e = try emission(series, isGauge: isGauge(metric), bucketStart: bucketStart, bucketEnd: bucketEnd, observation: observation)
        return Self.point(of: e.value, metric: metric, attributes: attributes, start: e.start, end: UInt64(bucketEnd))
    }

    /// What the series exports for `observation` in the bucket starting at `bucketStart`: its
    /// start time and value (the bucket's own, or the running totals), the state updated.
    private func emission(_ series: Series, isGauge: Bool, bucketStart: Int64, bucketEnd: Int64, observation: Observation) throws(BridgeError) -> Emission {
        guard temporality == .cumulative, !isGauge else { return Emission(start: UInt64(bucketStart), value: observation) }
        _ = try isStored(series, room: Int.max)
        let end = UTCInstant(unixNanoseconds: bucketEnd)
        if series.hasState {
            // The running totals are changed where they are: a state is copied only when taken.
            let lastEnd = series.state!.lastBucketEnd.unixNanoseconds
            if bucketStart < lastEnd {
                // Adding a bucket the running total already holds would count it twice.
                throw BridgeError(.result, "\(series.metricName) {\(LogSafe.text(series.key, limit: 200))}: bucket \(UTCInstant(unixNanoseconds: bucketStart).iso8601) is before the end of the last bucket already in its cumulative total (\(UTCInstant(unixNanoseconds: lastEnd).iso8601)); rewind the pipeline to restart its series",
                                  pipeline: pipeline)
            }
            if bucketStart - lastEnd <= expiry, lastEnd >= restartBefore {  // else idle past series_expiry, or after a gap: restart
                if Self.accumulate(observation, into: &series.state!) {
                    series.state!.lastBucketEnd = end
                    noteChanged(series)
                    return Emission(start: UInt64(series.state!.startTime.unixNanoseconds), value: Self.value(of: observation, totals: series.state!))
                }
                restartedOnOverflow += 1  // a running total no longer fits: restart
            }
        }
        // No state yet, idle past expiry, or a total that no longer fits: (re)start the series
        // from this bucket.
        var fresh = SeriesState(
            metric: series.metricName, seriesID: series.ref.id, attributesJSON: series.attributesJSON,
            startTime: UTCInstant(unixNanoseconds: bucketStart), lastBucketEnd: end)
        guard Self.accumulate(observation, into: &fresh) else {
            throw BridgeError(.result, "\(series.metricName): a value of bucket \(UTCInstant(unixNanoseconds: bucketStart).iso8601) does not fit a 64-bit total", pipeline: pipeline)
        }
        series.state = fresh
        noteChanged(series)
        return Emission(start: UInt64(bucketStart), value: Self.value(of: observation, totals: fresh))
    }

    private func noteChanged(_ series: Series) {
        if series.changedIn != generation {
            series.changedIn = generation
            changed.append(series)
        }
    }

    /// Adds `observation` to the running totals; `false`, with `state` unchanged, when a total
    /// would overflow or stop being finite, or a histogram's bucket count changed (new bounds).
    private static func accumulate(_ observation: Observation, into state: inout SeriesState) -> Bool {
        switch observation {
        case .int(let v):
            let (total, o) = (state.intTotal ?? 0).addingReportingOverflow(v)
            if o { return false }
            state.intTotal = total
        case .double(let v):
            let total = (state.doubleTotal ?? 0) + v
            guard total.isFinite else { return false }
            state.doubleTotal = total
        case .histogram(let count, let sum, _, _, let buckets):
            var totals = state.bucketCounts ?? Array(repeating: 0, count: buckets.count)
            if totals.count != buckets.count { return false }  // the bounds changed: restart
            for i in totals.indices {
                guard let t = adding(buckets[i], to: totals[i]) else { return false }
                totals[i] = t
            }
            guard let (c, s) = addingCountAndSum(count, sum, to: state) else { return false }
            state.bucketCounts = totals
            state.count = c
            state.sum = s
        case .summary(let count, let sum, _):
            guard let (c, s) = addingCountAndSum(count, sum, to: state) else { return false }
            state.count = c
            state.sum = s
        }
        return true
    }

    /// `total + value`, or `nil` when it does not fit an Int64 (a bigint in the store).
    private static func adding(_ value: UInt64, to total: Int64) -> Int64? {
        guard let v = Int64(exactly: value) else { return nil }
        let (sum, overflow) = total.addingReportingOverflow(v)
        return overflow ? nil : sum
    }

    /// A histogram's or summary's running count and sum with these added, or `nil` when either
    /// would no longer fit.
    private static func addingCountAndSum(_ count: UInt64, _ sum: Double, to state: SeriesState) -> (Int64, Double)? {
        guard let c = adding(count, to: state.count ?? 0) else { return nil }
        let s = (state.sum ?? 0) + sum
        guard s.isFinite else { return nil }
        return (c, s)
    }

    /// The observation with its counts and sums replaced by the running totals (min, max and
    /// quantiles stay the bucket's own).
    private static func value(of observation: Observation, totals state: SeriesState) -> Observation {
        switch observation {
        case .int(let v): .int(state.intTotal ?? v)
        case .double(let v): .double(state.doubleTotal ?? v)
        case .histogram(let count, let sum, let min, let max, let buckets):
            .histogram(count: state.count.map { UInt64($0) } ?? count, sum: state.sum ?? sum, min: min, max: max,
                       buckets: state.bucketCounts?.map { UInt64($0) } ?? buckets)
        case .summary(let count, let sum, let quantiles):
            .summary(count: state.count.map { UInt64($0) } ?? count, sum: state.sum ?? sum, quantiles: quantiles)
        }
    }

    /// The OTLP point of an emitted value.
    package static func point(of value: Observation, metric: MetricMapping, attributes: [Attribute], start: UInt64, end: UInt64,
                              exemplar: Exemplar? = nil) -> Point {
        let exemplars = exemplar.map { [$0] } ?? []
        switch value {
        case .int(let v):
            return .number(NumberPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, value: .int(v), exemplars: exemplars))
        case .double(let v):
            return .number(NumberPoint(attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, value: .double(v), exemplars: exemplars))
        case .histogram(let count, let sum, let min, let max, let buckets):
            return .histogram(HistogramPoint(
                attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, count: count, sum: sum,
                bucketCounts: buckets, explicitBounds: metric.histogramBounds, min: min, max: max, exemplars: exemplars))
        case .summary(let count, let sum, let quantiles):
            return .summary(SummaryPoint(
                attributes: attributes, startTimeUnixNano: start, timeUnixNano: end, count: count, sum: sum,
                quantiles: zip(metric.summaryQuantiles, quantiles).map { SummaryPoint.Quantile(quantile: $0, value: $1) }))
        }
    }

    /// The points of a bucket read from the result, in metric order (the state updated). Values
    /// carried (``carry(_:)``) go into this bucket's points: added to the series' own value, or
    /// as a point of their own for a series with no rows in the bucket.
    package func points(of bucket: ResultBucket, metrics: [MetricMapping], step: Int64) throws(BridgeError) -> [EmittedPoint] {
        let end = bucket.start + step
        let gauges = metrics.map(isGauge)
        var points: [EmittedPoint] = []
        points.reserveCapacity(bucket.observations.count + carries.count)
        var carried = [Bool](repeating: false, count: carries.count)
        for o in bucket.observations {
            var observation = o.observation
            if !carries.isEmpty, let i = carryIndex[LateFold.key(o.series)] {
                guard let sum = LateFold.adding(carries[i].value, to: observation) else {
                    throw BridgeError(.result, "\(o.series.metricName) {\(LogSafe.text(o.series.key, limit: 200))}: the late rows carried into bucket \(UTCInstant(unixNanoseconds: bucket.start).iso8601) do not fit its value",
                                      pipeline: pipeline)
                }
                observation = sum
                carried[i] = true
            }
            let e = try emission(o.series, isGauge: gauges[o.series.metric], bucketStart: bucket.start, bucketEnd: end, observation: observation)
            points.append(EmittedPoint(series: o.series, start: e.start, value: e.value, exemplar: o.exemplar))
        }
        for (i, c) in carries.enumerated() where !carried[i] {
            let e = try emission(c.series, isGauge: gauges[c.series.metric], bucketStart: bucket.start, bucketEnd: end, observation: c.value)
            points.append(EmittedPoint(series: c.series, start: e.start, value: e.value, exemplar: c.exemplar))
        }
        carries = []
        carryIndex = [:]
        return BucketPoints.inMetricOrder(points)
    }

    // MARK: - carry

    /// Values that go into their series' next point (late rows folded), by ``LateFold/key(_:)``.
    private var carries: [Carry] = []
    private var carryIndex: [String: Int] = [:]

    /// Whether values wait to go into the next bucket's points.
    package var hasCarry: Bool { !carries.isEmpty }

    /// Series whose last bucket ended before this restart at their next point (`too_old: drop`:
    /// after a gap, cumulative series start again at the first point sent).
    private var restartBefore: Int64 = .min

    /// Cumulative series whose last point ended before `time` start again at their next point.
    package func restartSeries(before time: Int64) {
        restartBefore = time
    }

    /// Forgets what was carried.
    package func dropCarry() {
        carries = []
        carryIndex = [:]
    }

    /// Adds `items` to what the next bucket's points carry (cumulative: into the running totals
    /// from that point on; delta: into that bucket's point).
    package func carry(_ items: [Carry]) throws(BridgeError) {
        for item in items {
            let key = LateFold.key(item.series)
            if let i = carryIndex[key] {
                guard let sum = LateFold.adding(item.value, to: carries[i].value) else {
                    throw BridgeError(.result, "\(item.series.metricName): the late rows carried do not fit a 64-bit total", pipeline: pipeline)
                }
                carries[i].value = sum
                carries[i].exemplar = BucketObservation.larger(carries[i].exemplar, item.exemplar)
            } else {
                carryIndex[key] = carries.count
                carries.append(item)
            }
        }
    }

    /// The series states changed since the last call, to commit with the batch.
    package func takeChanges() -> [SeriesState] {
        defer {
            changed.removeAll(keepingCapacity: true)
            generation += 1
        }
        return changed.compactMap { series in
            defer { series.state?.attributesJSON = "" }  // its first commit inserts the row; later ones update it
            return series.state
        }
    }
}

/// What a series exports for one bucket: the point's start time and value.
package struct Emission: Equatable {
    package var start: UInt64
    package var value: Observation
}

extension MetricMapping {
    /// A histogram's explicit bounds (empty for other kinds).
    package var histogramBounds: [Double] {
        if case .histogram(let histogram) = kind { return histogram.bounds }
        return []
    }

    /// A summary's quantile levels (empty for other kinds).
    package var summaryQuantiles: [Double] {
        if case .summary(let summary) = kind { return summary.quantiles }
        return []
    }
}
