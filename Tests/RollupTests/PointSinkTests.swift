import Synchronization
import Testing
@testable import OTLP
@testable import Bridge
@testable import Commands
@testable import Observability
@testable import Service
@testable import Rollup

@Suite("PrintingSink: one line per point")
struct PrintingSinkTests {
    @Test("sum, histogram and summary lines")
    func lines() {
        let attrs = [Attribute("gen_ai.provider.name", .string("openai")), Attribute("http.response.status_code", .int(200)),
                     Attribute("ok", .bool(true)), Attribute("ratio", .double(0.5))]
        let end = UInt64(T + 60 * second)
        let sum = Metric(name: "portkey.requests", description: "", unit: "{request}", data: .sum(
            isMonotonic: true, temporality: .cumulative,
            points: [NumberPoint(attributes: attrs, startTimeUnixNano: UInt64(T), timeUnixNano: end, value: .int(5))]))
        #expect(PrintingSink.lines(sum) == [
            "2026-11-29T10:00:00Z..2026-11-29T10:01:00Z  portkey.requests  {gen_ai.provider.name=openai, http.response.status_code=200, ok=true, ratio=0.5}  5",
        ])
        let cost = Metric(name: "portkey.cost", description: "", unit: "USD", data: .gauge(
            points: [NumberPoint(attributes: [], startTimeUnixNano: UInt64(T), timeUnixNano: end, value: .double(0.25))]))
        #expect(PrintingSink.lines(cost) == ["2026-11-29T10:00:00Z..2026-11-29T10:01:00Z  portkey.cost  {}  0.25"])
        let histogram = Metric(name: "d", description: "", unit: "s", data: .histogram(temporality: .delta, points: [
            HistogramPoint(attributes: [], startTimeUnixNano: UInt64(T), timeUnixNano: end, count: 3, sum: 1.5, bucketCounts: [1, 2, 0],
                           explicitBounds: [0.1, 1], min: 0.05, max: nil),
        ]))
        #expect(PrintingSink.lines(histogram) == ["2026-11-29T10:00:00Z..2026-11-29T10:01:00Z  d  {}  count=3 sum=1.5 min=0.05 max=- buckets=[1, 2, 0]"])
        let withExemplar = Metric(name: "d", description: "", unit: "s", data: .histogram(temporality: .delta, points: [
            HistogramPoint(attributes: [], startTimeUnixNano: UInt64(T), timeUnixNano: end, count: 1, sum: 1.5, bucketCounts: [0, 0, 1],
                           explicitBounds: [0.1, 1], min: 1.5, max: 1.5,
                           exemplars: [Exemplar(timeUnixNano: UInt64(T + 12_345_000_000), value: 1.5, traceID: Array(repeating: 0xAB, count: 16), spanID: Array(1...8))]),
        ]))
        #expect(PrintingSink.lines(withExemplar) == [
            "2026-11-29T10:00:00Z..2026-11-29T10:01:00Z  d  {}  count=1 sum=1.5 min=1.5 max=1.5 buckets=[0, 0, 1]  exemplar=1.5@2026-11-29T10:00:12.345Z trace=abababababababababababababababab span=0102030405060708",
        ])
        let summary = Metric(name: "l", description: "", unit: "s", data: .summary(points: [
            SummaryPoint(attributes: [], startTimeUnixNano: UInt64(T), timeUnixNano: end, count: 4, sum: 2,
                         quantiles: [.init(quantile: 0.5, value: 0.25), .init(quantile: 0.99, value: 1.5)]),
        ]))
        #expect(PrintingSink.lines(summary) == ["2026-11-29T10:00:00Z..2026-11-29T10:01:00Z  l  {}  count=4 sum=2.0 q0.5=0.25 q0.99=1.5"])
    }

    @Test("a dry run prints each metric's points together, in the pipeline's order, across buckets")
    func order() throws {
        let headers = [
            Metric(name: "a", description: "", unit: "", data: .sum(isMonotonic: true, temporality: .delta, points: [])),
            Metric(name: "b", description: "", unit: "", data: .gauge(points: [])),
        ]
        func point(_ minute: Int64, _ v: Int64) -> NumberPoint {
            let start: Int64 = T + minute * 60 * second
            let end: Int64 = start + 60 * second
            return NumberPoint(attributes: [], startTimeUnixNano: UInt64(start), timeUnixNano: UInt64(end), value: .int(v))
        }
        let lines = Mutex<[String]>([])
        let sink = PrintingSink(metrics: headers, write: { line in lines.withLock { $0.append(line) } })
        let gauge: MetricData = .gauge(points: [point(0, 7)])
        let sum0: MetricData = .sum(isMonotonic: true, temporality: .delta, points: [point(0, 1)])
        let sum1: MetricData = .sum(isMonotonic: true, temporality: .delta, points: [point(1, 2)])
        let firstBucket = try sink.encode([(metric: 1, data: gauge), (metric: 0, data: sum0)], budget: 0)
        let secondBucket = try sink.encode([(metric: 0, data: sum1)], budget: 0)
        #expect(firstBucket.map(\.pointCount) == [2] && secondBucket.map(\.pointCount) == [1])
        _ = try sink.send([firstBucket + secondBucket], willRetry: {})
        let expected: [String] = [
            "2026-11-29T10:00:00Z..2026-11-29T10:01:00Z  a  {}  1",
            "2026-11-29T10:01:00Z..2026-11-29T10:02:00Z  a  {}  2",
            "2026-11-29T10:00:00Z..2026-11-29T10:01:00Z  b  {}  7",
        ]
        let printed = lines.withLock { $0 }
        #expect(printed == expected)
    }
}
