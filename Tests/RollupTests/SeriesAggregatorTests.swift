import Checkpoints
import Foundation
import Testing
@testable import OTLP
@testable import Rollup

private let step = 60 * second

private func mapping(_ name: String, _ kind: MetricMapping.Kind) -> MetricMapping {
    MetricMapping(name: name, description: "", unit: "", attributeColumns: [], staticAttributes: [], kind: kind, line: nil)
}

private let requests = mapping("m.requests", .sum(valueColumn: "n", valueType: .int, monotonic: true))
private let cost = mapping("m.cost", .sum(valueColumn: "c", valueType: .double, monotonic: true))
private let temperature = mapping("m.temperature", .gauge(valueColumn: "t", valueType: .double))
private let duration = mapping("m.duration", .histogram(bounds: [0.1, 1], countColumn: "c", sumColumn: "s", minColumn: "mn",
                                                         maxColumn: "mx", bucketCountsColumn: "b"))
private let latency = mapping("m.latency", .summary(quantiles: [0.5, 0.99], quantileValuesColumn: "q", countColumn: "c", sumColumn: "s"))

private let openai = [Attribute("gen_ai.provider.name", .string("openai"))]
private let anthropic = [Attribute("gen_ai.provider.name", .string("anthropic"))]

extension SeriesAggregator {
    /// The point of `observation` in the bucket starting at `bucket`.
    mutating func add(_ metric: MetricMapping, _ attributes: [Attribute], bucket: Int64, _ observation: Observation) throws -> SeriesAggregator.Point {
        try point(metric: metric, attributes: attributes, seriesKey: Self.seriesKey(attributes), bucketStart: bucket,
                  bucketEnd: bucket + step, observation: observation)
    }
}

private func number(_ p: SeriesAggregator.Point) throws -> NumberPoint {
    guard case .number(let n) = p else { throw PointKindMismatch() }
    return n
}

private func histogram(_ p: SeriesAggregator.Point) throws -> HistogramPoint {
    guard case .histogram(let h) = p else { throw PointKindMismatch() }
    return h
}

private func summary(_ p: SeriesAggregator.Point) throws -> SummaryPoint {
    guard case .summary(let s) = p else { throw PointKindMismatch() }
    return s
}

private struct PointKindMismatch: Error {}

private func u(_ ns: Int64) -> UInt64 { UInt64(ns) }

@Suite("SeriesAggregator: delta temporality")
struct DeltaAggregationTests {
    @Test("each point holds the bucket alone and starts at the bucket start")
    func delta() throws {
        var agg = SeriesAggregator(pipeline: "p", temporality: .delta, loaded: [])
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
        #expect(agg.takeChanges() == [])
    }
}

@Suite("SeriesAggregator: cumulative temporality")
struct CumulativeAggregationTests {
    @Test("int sums are running totals from the first bucket's start; gaps keep the total")
    func intSum() throws {
        var agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        let points = try [(T, Int64(5)), (T + step, 3), (T + 3 * step, 2)].map { try number(agg.add(requests, openai, bucket: $0.0, .int($0.1))) }
        #expect(points == [
            NumberPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + step), value: .int(5)),
            NumberPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + 2 * step), value: .int(8)),
            NumberPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + 4 * step), value: .int(10)),
        ])
    }

    @Test("double sums are running totals")
    func doubleSum() throws {
        var agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        let values = try [0.25, 0.5, 1.0].enumerated().map { i, v in
            try number(agg.add(cost, openai, bucket: T + Int64(i) * step, .double(v)))
        }
        #expect(values.map(\.value) == [.double(0.25), .double(0.75), .double(1.75)])
        #expect(values.map(\.startTimeUnixNano) == [u(T), u(T), u(T)])
        #expect(values.map(\.timeUnixNano) == [u(T + step), u(T + 2 * step), u(T + 3 * step)])
    }

    @Test("each series has its own total and start time")
    func seriesAreIndependent() throws {
        var agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        _ = try agg.add(requests, openai, bucket: T, .int(5))
        let a = try number(agg.add(requests, anthropic, bucket: T + step, .int(7)))
        let b = try number(agg.add(requests, openai, bucket: T + step, .int(1)))
        #expect(a == NumberPoint(attributes: anthropic, startTimeUnixNano: u(T + step), timeUnixNano: u(T + 2 * step), value: .int(7)))
        #expect(b == NumberPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + 2 * step), value: .int(6)))
        // The same attributes under another metric are another series.
        let other = mapping("m.other", .sum(valueColumn: "n", valueType: .int, monotonic: true))
        #expect(try number(agg.add(other, openai, bucket: T + 2 * step, .int(2))).value == .int(2))
    }

    @Test("histograms: counts, bucket counts and sum accumulate; min and max are the bucket's")
    func histograms() throws {
        var agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
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
        var agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        _ = try agg.add(latency, openai, bucket: T, .summary(count: 4, sum: 2, quantiles: [0.25, 1.5]))
        let second = try summary(agg.add(latency, openai, bucket: T + step, .summary(count: 2, sum: 0.5, quantiles: [0.125, 0.375])))
        #expect(second == SummaryPoint(attributes: openai, startTimeUnixNano: u(T), timeUnixNano: u(T + 2 * step), count: 6, sum: 2.5,
                                       quantiles: [.init(quantile: 0.5, value: 0.125), .init(quantile: 0.99, value: 0.375)]))
    }

    @Test("gauges are never accumulated")
    func gauges() throws {
        var agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        _ = try agg.add(temperature, openai, bucket: T, .double(20))
        #expect(try number(agg.add(temperature, openai, bucket: T + step, .double(21)))
            == NumberPoint(attributes: openai, startTimeUnixNano: u(T + step), timeUnixNano: u(T + 2 * step), value: .double(21)))
    }

    @Test("a loaded state continues its totals with its stored start time")
    func restoredState() throws {
        let start = T - 86_400 * second
        let key = SeriesAggregator.seriesKey(openai)
        let loaded = [
            SeriesState(metric: "m.requests", seriesKey: key, attributesJSON: #"{"gen_ai.provider.name":"openai"}"#,
                        startTime: SeriesAggregator.date(start), lastBucketEnd: SeriesAggregator.date(T), intTotal: 100),
            SeriesState(metric: "m.cost", seriesKey: key, attributesJSON: "{}",
                        startTime: SeriesAggregator.date(start), lastBucketEnd: SeriesAggregator.date(T), doubleTotal: 10.5),
            SeriesState(metric: "m.duration", seriesKey: key, attributesJSON: "{}",
                        startTime: SeriesAggregator.date(start), lastBucketEnd: SeriesAggregator.date(T), count: 10, sum: 4.5, bucketCounts: [2, 5, 3]),
            SeriesState(metric: "m.latency", seriesKey: key, attributesJSON: "{}",
                        startTime: SeriesAggregator.date(start + step), lastBucketEnd: SeriesAggregator.date(T), count: 7, sum: 3),
        ]
        var agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: loaded)
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

    @Test("a stored histogram with another number of buckets is a result error")
    func changedBounds() throws {
        let key = SeriesAggregator.seriesKey(openai)
        let loaded = [SeriesState(metric: "m.duration", seriesKey: key, attributesJSON: "{}", startTime: SeriesAggregator.date(T),
                                  lastBucketEnd: SeriesAggregator.date(T), count: 1, sum: 1, bucketCounts: [0, 1])]
        var agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: loaded)
        let error = try #require(captureError { () throws(BridgeError) in
            try agg.point(metric: duration, attributes: openai, seriesKey: key, bucketStart: T, bucketEnd: T + step,
                          observation: .histogram(count: 1, sum: 0.5, min: 0.5, max: 0.5, buckets: [0, 1, 0]))
        })
        #expect(error.code == .result)
        #expect(error.pipeline == "p")
    }

    @Test("an int total that would overflow 64 bits is a result error")
    func overflow() throws {
        let key = SeriesAggregator.seriesKey(openai)
        let loaded = [SeriesState(metric: "m.requests", seriesKey: key, attributesJSON: "{}", startTime: SeriesAggregator.date(T),
                                  lastBucketEnd: SeriesAggregator.date(T), intTotal: Int64.max - 1)]
        var agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: loaded)
        let error = try #require(captureError { () throws(BridgeError) in
            try agg.point(metric: requests, attributes: openai, seriesKey: key, bucketStart: T, bucketEnd: T + step, observation: .int(2))
        })
        #expect(error.code == .result)
    }

    @Test("takeChanges returns each changed series once, with its totals, then nothing")
    func takeChanges() throws {
        var agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, loaded: [])
        _ = try agg.add(requests, openai, bucket: T, .int(5))
        _ = try agg.add(requests, anthropic, bucket: T, .int(1))
        _ = try agg.add(requests, openai, bucket: T + step, .int(3))
        _ = try agg.add(duration, openai, bucket: T + step, .histogram(count: 3, sum: 1.5, min: 0.05, max: 1.25, buckets: [1, 1, 1]))
        let changes = agg.takeChanges()
        #expect(changes.count == 3)
        let byID = Dictionary(uniqueKeysWithValues: changes.map { ("\($0.metric) \($0.seriesKey)", $0) })
        #expect(byID.count == 3)
        let a = try #require(byID["m.requests \(SeriesAggregator.seriesKey(openai))"])
        #expect(a.intTotal == Int64(8))
        #expect(a.startTime == SeriesAggregator.date(T))
        #expect(a.lastBucketEnd == SeriesAggregator.date(T + 2 * step))
        #expect(a.attributesJSON == #"{"gen_ai.provider.name":"openai"}"#)
        let b = try #require(byID["m.requests \(SeriesAggregator.seriesKey(anthropic))"])
        #expect(b.intTotal == 1)
        #expect(b.lastBucketEnd == SeriesAggregator.date(T + step))
        let h = try #require(byID["m.duration \(SeriesAggregator.seriesKey(openai))"])
        #expect(h.count == 3)
        #expect(h.sum == 1.5)
        #expect(h.bucketCounts == [1, 1, 1])
        #expect(h.intTotal == nil && h.doubleTotal == nil)
        #expect(agg.takeChanges() == [])

        _ = try agg.add(requests, anthropic, bucket: T + step, .int(2))
        let next = agg.takeChanges()
        #expect(next.map(\.intTotal) == [3])
        #expect(next.map(\.seriesKey) == [SeriesAggregator.seriesKey(anthropic)])
    }

    @Test("times survive the Date round trip of the checkpoint store", arguments: [T, T + 123_456_000, Int64(0), -60 * second])
    func dateRoundTrip(ns: Int64) {
        #expect(SeriesAggregator.nanoseconds(SeriesAggregator.date(ns)) == ns)
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
