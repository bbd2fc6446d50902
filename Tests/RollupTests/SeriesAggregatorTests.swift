import Checkpoints
import Foundation
import Testing
@testable import OTLP
@testable import PipelineConfig
@testable import Rollup
import UTCTime

private let step = 60 * second

private func mapping(_ name: String, _ kind: MetricMapping.Kind) -> MetricMapping {
    MetricMapping(name: name, description: "", unit: "", attributeColumns: [], staticAttributes: [], kind: kind, line: nil)
}

private let requests = mapping("m.requests", .sum(.init(valueColumn: "n", valueType: .int, monotonic: true)))
private let cost = mapping("m.cost", .sum(.init(valueColumn: "c", valueType: .double, monotonic: true)))
private let temperature = mapping("m.temperature", .gauge(.init(valueColumn: "t", valueType: .double)))
private let duration = mapping("m.duration", .histogram(.init(bounds: [0.1, 1], countColumn: "c", sumColumn: "s", minColumn: "mn",
                                                         maxColumn: "mx", bucketCountsColumn: "b")))
private let latency = mapping("m.latency", .summary(.init(quantiles: [0.5, 0.99], quantileValuesColumn: "q", countColumn: "c", sumColumn: "s")))

private let other = mapping("m.other", .sum(.init(valueColumn: "n", valueType: .int, monotonic: true)))
/// The metrics of the tests' pipeline, in its order.
private let metrics = [requests, cost, temperature, duration, latency, other]

private let openai = [Attribute("gen_ai.provider.name", .string("openai"))]
private let anthropic = [Attribute("gen_ai.provider.name", .string("anthropic"))]

/// Stored series state in memory (the checkpoint store's role), counting lookups.
final class MemorySeries: SeriesStateSource {
    var stored: [SeriesState]
    private(set) var loads = 0
    private(set) var idLoads = 0
    init(_ stored: [SeriesState] = []) { self.stored = stored }
    func counts() throws -> [String: Int] {
        let overflow = SeriesID.of(BucketReader.overflowKey)
        return Dictionary(grouping: stored.filter { $0.seriesID != overflow }, by: \.metric).mapValues(\.count)
    }
    func load(metric: String, ids: [String]) throws -> [SeriesState] {
        loads += 1
        return stored.filter { $0.metric == metric && ids.contains($0.seriesID) }
    }
    func ids(metric: String) throws -> Set<String> {
        idLoads += 1
        return Set(stored.filter { $0.metric == metric }.map(\.seriesID))
    }
}

extension SeriesAggregator {
    convenience init(pipeline: String, temporality: AggregationTemporality, loaded: [SeriesState], expirySeconds: Int64 = 7 * 86_400) {
        self.init(pipeline: pipeline, temporality: temporality, expirySeconds: expirySeconds, source: MemorySeries(loaded), table: SeriesTable())
    }

    /// The series of `attributes` under `metric` (one of the tests' `metrics`): its index in the table.
    func series(_ metric: MetricMapping, _ attributes: [Attribute]) throws -> Int {
        let m = try #require(metrics.firstIndex { $0.name == metric.name })
        return table.canonicalSeries(metric: m, name: metric.name, attributes: attributes)
    }

    /// The point of `observation` in the bucket starting at `bucket`, through the pass's one path:
    /// the series from the table, a bucket of that one observation, its points.
    func add(_ metric: MetricMapping, _ attributes: [Attribute], bucket: Int64, _ observation: Observation) throws -> BucketPoints.Point {
        let s = try series(metric, attributes)
        let points = try points(of: ResultBucket(start: bucket, observations: [BucketObservation(series: s, observation: observation)], rows: 1,
                                                 digest: BucketDigest()), metrics: metrics, step: step)
        #expect(points.count == 1)
        let p = try #require(points.first)
        #expect(p.series == s && p.metric == table.metric[s])
        return BucketPoints.point(of: p.value, metric: metric, attributes: table.attributes[p.series], start: p.start, end: UInt64(bucket + step),
                                  exemplar: p.exemplar)
    }

    /// Whether the series of `attributes` keeps its own attributes when it is new in the bucket
    /// (the reader's question, ``admit(_:metric:bucketStart:admittedInBucket:)``).
    func admit(_ metric: MetricMapping, _ attributes: [Attribute], bucketStart: Int64, admittedInBucket: Int) throws -> Bool {
        let s = try series(metric, attributes)
        let bound = ResultBinding.BoundMetric(index: table.metric[s], mapping: metric, attributes: [],
                                              value: .number(column: 0, valueType: .int, nonNegative: true), exemplar: nil, filters: [])
        return try admit(s, metric: bound, bucketStart: bucketStart, admittedInBucket: admittedInBucket)
    }
}

private func number(_ p: BucketPoints.Point) throws -> NumberPoint {
    guard case .number(let n) = p else { throw PointKindMismatch() }
    return n
}

private func histogram(_ p: BucketPoints.Point) throws -> HistogramPoint {
    guard case .histogram(let h) = p else { throw PointKindMismatch() }
    return h
}

private func summary(_ p: BucketPoints.Point) throws -> SummaryPoint {
    guard case .summary(let s) = p else { throw PointKindMismatch() }
    return s
}

private struct PointKindMismatch: Error {}

private func u(_ ns: Int64) -> UInt64 { UInt64(ns) }

@Suite("SeriesAggregator: delta temporality")
struct DeltaAggregationTests {
    @Test("each point holds the bucket alone and starts at the bucket start")
    func delta() throws {
        let agg = SeriesAggregator(pipeline: "p", temporality: .delta, loaded: [])
        #expect(try number(agg.add(requests, openai, bucket: T, .int(5)))
            == NumberPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + step), value: .int(5)))
        #expect(try number(agg.add(requests, openai, bucket: T + step, .int(3)))
            == NumberPoint(attributes: openai, startTimeUnixNano: u(T + step), timeUnixNano: u(T + 2 * step), value: .int(3)))
        #expect(try number(agg.add(cost, openai, bucket: T + 3 * step, .double(0.25)))
            == NumberPoint(attributes: openai, startTimeUnixNano: u(T + 3 * step), timeUnixNano: u(T + 4 * step), value: .double(0.25)))
        #expect(try histogram(agg.add(duration, openai, bucket: T, .histogram(count: 3, sum: 1.5, min: 0.05, max: 1.25, buckets: [1, 1, 1])))
            == HistogramPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + step), count: 3, sum: 1.5,
                              bucketCounts: [1, 1, 1], explicitBounds: [0.1, 1], min: 0.05, max: 1.25))
        #expect(try histogram(agg.add(duration, openai, bucket: T + step, .histogram(count: 1, sum: 0.5, min: 0.5, max: 0.5, buckets: [0, 1, 0])))
            == HistogramPoint(attributes: openai, startTimeUnixNano: u(T + step), timeUnixNano: u(T + 2 * step), count: 1, sum: 0.5,
                              bucketCounts: [0, 1, 0], explicitBounds: [0.1, 1], min: 0.5, max: 0.5))
        #expect(try summary(agg.add(latency, openai, bucket: T + step, .summary(count: 4, sum: 2, quantiles: [0.25, 1.5])))
            == SummaryPoint(attributes: openai, startTimeUnixNano: u(T + step), timeUnixNano: u(T + 2 * step), count: 4, sum: 2,
                            quantiles: [.init(quantile: 0.5, value: 0.25), .init(quantile: 0.99, value: 1.5)]))
        #expect(agg.directory.states(of: agg.takeChanges()) == [])
    }
}

@Suite("SeriesAggregator: cumulative temporality")
struct CumulativeAggregationTests {
    @Test("int sums are running totals from the first bucket's start; gaps keep the total")
    func intSum() throws {
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        let points = try [(T, Int64(5)), (T + step, 3), (T + 3 * step, 2)].map { try number(agg.add(requests, openai, bucket: $0.0, .int($0.1))) }
        #expect(points == [
            NumberPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + step), value: .int(5)),
            NumberPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + 2 * step), value: .int(8)),
            NumberPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + 4 * step), value: .int(10)),
        ])
    }

    @Test("double sums are running totals")
    func doubleSum() throws {
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        let values = try [0.25, 0.5, 1.0].enumerated().map { i, v in
            try number(agg.add(cost, openai, bucket: T + Int64(i) * step, .double(v)))
        }
        #expect(values.map(\.value) == [.double(0.25), .double(0.75), .double(1.75)])
        #expect(values.map(\.startTimeUnixNano) == [u(T), u(T), u(T)])
        #expect(values.map(\.timeUnixNano) == [u(T + step), u(T + 2 * step), u(T + 3 * step)])
    }

    @Test("each series has its own total and start time")
    func seriesAreIndependent() throws {
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        _ = try agg.add(requests, openai, bucket: T, .int(5))
        let a = try number(agg.add(requests, anthropic, bucket: T + step, .int(7)))
        let b = try number(agg.add(requests, openai, bucket: T + step, .int(1)))
        #expect(a == NumberPoint(attributes: anthropic, startTimeUnixNano: u(T + step), timeUnixNano: u(T + 2 * step), value: .int(7)))
        #expect(b == NumberPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + 2 * step), value: .int(6)))
        // The same attributes under another metric are another series.
        #expect(try number(agg.add(other, openai, bucket: T + 2 * step, .int(2))).value == .int(2))
    }

    @Test("histograms: counts, bucket counts and sum accumulate; min and max are the bucket's")
    func histograms() throws {
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        let first = try histogram(agg.add(duration, openai, bucket: T, .histogram(count: 3, sum: 1.5, min: 0.05, max: 1.25, buckets: [1, 1, 1])))
        let second = try histogram(agg.add(duration, openai, bucket: T + 2 * step,
                                           .histogram(count: 2, sum: 0.25, min: 0.125, max: 0.125, buckets: [0, 2, 0])))
        #expect(first == HistogramPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + step), count: 3, sum: 1.5,
                                        bucketCounts: [1, 1, 1], explicitBounds: [0.1, 1], min: 0.05, max: 1.25))
        #expect(second == HistogramPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + 3 * step), count: 5, sum: 1.75,
                                         bucketCounts: [1, 3, 1], explicitBounds: [0.1, 1], min: 0.125, max: 0.125))
    }

    @Test("summaries: count and sum accumulate; quantiles are the bucket's")
    func summaries() throws {
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        _ = try agg.add(latency, openai, bucket: T, .summary(count: 4, sum: 2, quantiles: [0.25, 1.5]))
        let second = try summary(agg.add(latency, openai, bucket: T + step, .summary(count: 2, sum: 0.5, quantiles: [0.125, 0.375])))
        #expect(second == SummaryPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + 2 * step), count: 6, sum: 2.5,
                                       quantiles: [.init(quantile: 0.5, value: 0.125), .init(quantile: 0.99, value: 0.375)]))
    }

    @Test("gauges are never accumulated")
    func gauges() throws {
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        _ = try agg.add(temperature, openai, bucket: T, .double(20))
        #expect(try number(agg.add(temperature, openai, bucket: T + step, .double(21)))
            == NumberPoint(attributes: openai, startTimeUnixNano: u(T + step), timeUnixNano: u(T + 2 * step), value: .double(21)))
    }

    @Test("a loaded state continues its totals with its stored start time")
    func restoredState() throws {
        let start = T - 86_400 * second
        let key = SeriesAggregator.seriesKey(openai)
        let loaded = [
            SeriesState(metric: "m.requests", seriesID: SeriesID.of(key), attributesJSON: #"{"gen_ai.provider.name":"openai"}"#,
                        startTime: UTCInstant(unixNanoseconds: start), lastBucketEnd: UTCInstant(unixNanoseconds: T), intTotal: 100),
            SeriesState(metric: "m.cost", seriesID: SeriesID.of(key), attributesJSON: "{}",
                        startTime: UTCInstant(unixNanoseconds: start), lastBucketEnd: UTCInstant(unixNanoseconds: T), doubleTotal: 10.5),
            SeriesState(metric: "m.duration", seriesID: SeriesID.of(key), attributesJSON: "{}",
                        startTime: UTCInstant(unixNanoseconds: start), lastBucketEnd: UTCInstant(unixNanoseconds: T), count: 10, sum: 4.5, bucketCounts: [2, 5, 3]),
            SeriesState(metric: "m.latency", seriesID: SeriesID.of(key), attributesJSON: "{}",
                        startTime: UTCInstant(unixNanoseconds: start + step), lastBucketEnd: UTCInstant(unixNanoseconds: T), count: 7, sum: 3),
        ]
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: loaded)
        #expect(try number(agg.add(requests, openai, bucket: T, .int(5)))
            == NumberPoint(attributes: openai, startTimeUnixNano: u(start), timeUnixNano: u(T + step), value: .int(105)))
        #expect(try number(agg.add(cost, openai, bucket: T, .double(0.25)))
            == NumberPoint(attributes: openai, startTimeUnixNano: u(start), timeUnixNano: u(T + step), value: .double(10.75)))
        #expect(try histogram(agg.add(duration, openai, bucket: T, .histogram(count: 3, sum: 1.5, min: 0.05, max: 1.25, buckets: [1, 1, 1])))
            == HistogramPoint(attributes: openai, startTimeUnixNano: u(start), timeUnixNano: u(T + step), count: 13, sum: 6,
                              bucketCounts: [3, 6, 4], explicitBounds: [0.1, 1], min: 0.05, max: 1.25))
        #expect(try summary(agg.add(latency, openai, bucket: T, .summary(count: 1, sum: 0.5, quantiles: [0.5, 0.5])))
            == SummaryPoint(attributes: openai, startTimeUnixNano: u(start + step), timeUnixNano: u(T + step), count: 8, sum: 3.5,
                            quantiles: [.init(quantile: 0.5, value: 0.5), .init(quantile: 0.99, value: 0.5)]))
        // A series without stored state starts afresh.
        #expect(try number(agg.add(requests, anthropic, bucket: T, .int(5))).startTimeUnixNano == u(T))
    }

    @Test("a stored histogram with another number of buckets restarts the series (new bounds)")
    func changedBounds() throws {
        let key = SeriesAggregator.seriesKey(openai)
        let loaded = [SeriesState(metric: "m.duration", seriesID: SeriesID.of(key), attributesJSON: "{}", startTime: UTCInstant(unixNanoseconds: T - step),
                                  lastBucketEnd: UTCInstant(unixNanoseconds: T), count: 1, sum: 1, bucketCounts: [0, 1])]
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: loaded)
        let p = try histogram(agg.add(duration, openai, bucket: T, .histogram(count: 1, sum: 0.5, min: 0.5, max: 0.5, buckets: [0, 1, 0])))
        #expect(p.startTimeUnixNano == u(T))
        #expect(p.count == 1 && p.bucketCounts == [0, 1, 0])
    }

    @Test("an int total that would overflow 64 bits restarts the series: a reset, never a trap or a stuck pipeline")
    func overflow() throws {
        let key = SeriesAggregator.seriesKey(openai)
        let loaded = [SeriesState(metric: "m.requests", seriesID: SeriesID.of(key), attributesJSON: "{}", startTime: UTCInstant(unixNanoseconds: T - step),
                                  lastBucketEnd: UTCInstant(unixNanoseconds: T), intTotal: Int64.max - 1)]
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: loaded)
        let p = try number(agg.add(requests, openai, bucket: T, .int(2)))
        #expect(p == NumberPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + step), value: .int(2)))
        #expect(agg.restartedOnOverflow == 1)
        #expect(agg.directory.states(of: agg.takeChanges()).map(\.intTotal) == [2])
    }

    @Test("a double total that would become infinite restarts the series")
    func infiniteDouble() throws {
        let key = SeriesAggregator.seriesKey(openai)
        let loaded = [SeriesState(metric: "m.cost", seriesID: SeriesID.of(key), attributesJSON: "{}", startTime: UTCInstant(unixNanoseconds: T - step),
                                  lastBucketEnd: UTCInstant(unixNanoseconds: T), doubleTotal: Double.greatestFiniteMagnitude)]
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: loaded)
        let p = try number(agg.add(cost, openai, bucket: T, .double(Double.greatestFiniteMagnitude)))
        #expect(p.value == .double(Double.greatestFiniteMagnitude))
        #expect(p.startTimeUnixNano == u(T))
    }

    @Test("a series idle longer than series_expiry restarts with a new start time; within it, it continues")
    func expiry() throws {
        let key = SeriesAggregator.seriesKey(openai)
        let loaded = [SeriesState(metric: "m.requests", seriesID: SeriesID.of(key), attributesJSON: "{}", startTime: UTCInstant(unixNanoseconds: T - 10 * step),
                                  lastBucketEnd: UTCInstant(unixNanoseconds: T), intTotal: 40)]
        let within = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: loaded, expirySeconds: 3600)
        #expect(try number(within.add(requests, openai, bucket: T + 3600 * second, .int(2))).value == .int(42))
        let past = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: loaded, expirySeconds: 3600)
        let p = try number(past.add(requests, openai, bucket: T + 3600 * second + step, .int(2)))
        #expect(p.value == .int(2))
        #expect(p.startTimeUnixNano == u(T + 3600 * second + step))
        // The stored series updates its row; restarted, it inserts the row anew, with its attributes.
        #expect(within.directory.states(of: within.takeChanges()).map(\.attributesJSON) == [""])
        #expect(past.directory.states(of: past.takeChanges()).map(\.attributesJSON) == [#"{"gen_ai.provider.name":"openai"}"#])
    }

    @Test("takeChanges returns each changed series once, with its totals, then nothing")
    func takeChanges() throws {
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        _ = try agg.add(requests, openai, bucket: T, .int(5))
        _ = try agg.add(requests, anthropic, bucket: T, .int(1))
        _ = try agg.add(requests, openai, bucket: T + step, .int(3))
        _ = try agg.add(duration, openai, bucket: T + step, .histogram(count: 3, sum: 1.5, min: 0.05, max: 1.25, buckets: [1, 1, 1]))
        let taken = agg.takeChanges()
        let changes = agg.directory.states(of: taken)
        #expect(changes.count == 3)
        // Each change names its series by index, as the pass's table knows it.
        #expect(zip(taken, changes).allSatisfy { agg.table.identity($0.series) == $1.identity })
        let byID = Dictionary(uniqueKeysWithValues: changes.map { ("\($0.metric) \($0.seriesID)", $0) })
        #expect(byID.count == 3)
        let a = try #require(byID["m.requests \(SeriesID.of(SeriesAggregator.seriesKey(openai)))"])
        #expect(a.intTotal == Int64(8))
        #expect(a.startTime == UTCInstant(unixNanoseconds: T))
        #expect(a.lastBucketEnd == UTCInstant(unixNanoseconds: T + 2 * step))
        #expect(a.attributesJSON == #"{"gen_ai.provider.name":"openai"}"#)
        let b = try #require(byID["m.requests \(SeriesID.of(SeriesAggregator.seriesKey(anthropic)))"])
        #expect(b.intTotal == 1)
        #expect(b.lastBucketEnd == UTCInstant(unixNanoseconds: T + step))
        let h = try #require(byID["m.duration \(SeriesID.of(SeriesAggregator.seriesKey(openai)))"])
        #expect(h.count == 3)
        #expect(h.sum == 1.5)
        #expect(h.bucketCounts == [1, 1, 1])
        #expect(h.intTotal == nil && h.doubleTotal == nil)
        #expect(agg.directory.states(of: agg.takeChanges()) == [])

        _ = try agg.add(requests, anthropic, bucket: T + step, .int(2))
        let next = agg.directory.states(of: agg.takeChanges())
        #expect(next.map(\.intTotal) == [3])
        #expect(next.map(\.seriesID) == [SeriesID.of(SeriesAggregator.seriesKey(anthropic))])
    }
}

@Suite("SeriesAggregator.seriesKey: the identity of a series")
struct SeriesKeyTests {
    @Test("independent of attribute order")
    func order() {
        let a = [Attribute("b", .string("x")), Attribute("a", .int(1)), Attribute("c", .bool(true))]
        let b = [Attribute("c", .bool(true)), Attribute("a", .int(1)), Attribute("b", .string("x"))]
        #expect(SeriesAggregator.seriesKey(a) == SeriesAggregator.seriesKey(b))
        #expect(SeriesAggregator.seriesKey([]) == SeriesAggregator.seriesKey([]))
    }

    @Test("distinguishes values, keys and types", arguments: [
        ([Attribute("status", .int(200))], [Attribute("status", .string("200"))]),
        ([Attribute("x", .int(1))], [Attribute("x", .double(1))]),
        ([Attribute("x", .bool(true))], [Attribute("x", .string("true"))]),
        ([Attribute("a", .string("1"))], [Attribute("b", .string("1"))]),
        ([Attribute("a", .string("1"))], [Attribute("a", .string("1")), Attribute("b", .string(""))]),
        ([Attribute("a", .string("1"))], []),
    ])
    func distinct(a: [Attribute], b: [Attribute]) {
        #expect(SeriesAggregator.seriesKey(a) != SeriesAggregator.seriesKey(b))
    }

    @Test("distinct attribute sets give distinct keys even when a value holds the separators")
    func separatorsInValues() {
        let two = [Attribute("a", .string("x")), Attribute("b", .string("y"))]
        let one = [Attribute("a", .string("x\u{1F}b=s:y"))]
        #expect(SeriesAggregator.seriesKey(two) != SeriesAggregator.seriesKey(one))
    }

    @Test("attributes as JSON for operators")
    func json() {
        let json = SeriesAggregator.attributesJSON([
            Attribute("s", .string("openai")), Attribute("i", .int(200)), Attribute("d", .double(0.5)), Attribute("b", .bool(true)),
        ])
        #expect(json == #"{"b":true,"d":0.5,"i":200,"s":"openai"}"#)
    }
}

@Suite("SeriesAggregator: cardinality limit")
struct CardinalityTests {
    private func limited(_ m: MetricMapping, _ limit: Int) -> MetricMapping {
        var copy = m
        copy.cardinalityLimit = limit
        return copy
    }

    @Test("cumulative: stored series keep their place; new ones get one while the metric has fewer than limit - 1")
    func cumulativeAdmission() throws {
        let m = limited(requests, 3)  // two own series, then overflow
        let stored = [SeriesState(metric: m.name, seriesID: SeriesID.of(SeriesAggregator.seriesKey(openai)), attributesJSON: "{}",
                                  startTime: UTCInstant(unixNanoseconds: T - step), lastBucketEnd: UTCInstant(unixNanoseconds: T), intTotal: 1)]
        let source = MemorySeries(stored)
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, expirySeconds: 86_400, source: source, table: SeriesTable())
        let names = (0..<5).map { [Attribute("gen_ai.request.model", .string("m\($0)"))] }
        #expect(try agg.admit(m, names[0], bucketStart: T, admittedInBucket: 0))
        #expect(try !agg.admit(m, names[1], bucketStart: T, admittedInBucket: 1))
        // The stored series is admitted even at the limit, whatever order it comes in.
        #expect(try agg.admit(m, openai, bucketStart: T, admittedInBucket: 1))
        #expect(try !agg.admit(m, names[2], bucketStart: T + step, admittedInBucket: 0))
        // At the limit the ids are loaded once, not looked up one by one.
        #expect(source.idLoads == 1)
    }

    @Test("delta: the first limit - 1 series of each bucket")
    func deltaAdmission() throws {
        let m = limited(requests, 3)
        let agg = SeriesAggregator(pipeline: "p", temporality: .delta, loaded: [])
        #expect(try agg.admit(m, [Attribute("k", .string("a"))], bucketStart: T, admittedInBucket: 0))
        #expect(try agg.admit(m, [Attribute("k", .string("b"))], bucketStart: T, admittedInBucket: 1))
        #expect(try !agg.admit(m, [Attribute("k", .string("c"))], bucketStart: T, admittedInBucket: 2))
        #expect(try agg.admit(m, [Attribute("k", .string("c"))], bucketStart: T + step, admittedInBucket: 0))
    }

    @Test("a series' state is keyed by a 64-hex-digit id whatever its values hold (NUL, 10 kB)")
    func anyValueFits() throws {
        let hostile = [Attribute("gen_ai.request.model", .string("a\u{0}b" + String(repeating: "x", count: 10_000)))]
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        _ = try agg.add(requests, hostile, bucket: T, .int(1))
        let state = try #require(agg.directory.states(of: agg.takeChanges()).first)
        #expect(state.seriesID.count == 64 && state.seriesID.allSatisfy(\.isHexDigit))
        #expect(!state.attributesJSON.contains("\u{0}") && state.attributesJSON.utf8.count < 400)
    }

    @Test("SHA-256 of the standard's vectors")
    func sha256() {
        #expect(SeriesID.of("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SeriesID.of("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SeriesID.of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SeriesID.of(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}
