import Testing
@testable import OTLP
@testable import Bridge
@testable import Rollup

/// A number point identified by its time.
private func n(_ t: UInt64) -> NumberPoint {
    NumberPoint(attributes: [Attribute("i", .int(Int64(t)))], startTimeUnixNano: 0, timeUnixNano: t, value: .int(Int64(t)))
}

private func metric(_ index: Int, points: Int, from t: UInt64) -> Metric {
    let times = (0..<UInt64(points)).map { t + $0 }
    let data: MetricData
    switch index % 4 {
    case 0: data = .sum(isMonotonic: true, temporality: .cumulative, points: times.map(n))
    case 1: data = .gauge(points: times.map(n))
    case 2: data = .histogram(temporality: .delta, points: times.map {
        HistogramPoint(attributes: [], startTimeUnixNano: 0, timeUnixNano: $0, count: 1, sum: 1, bucketCounts: [1], explicitBounds: [], min: nil, max: nil)
    })
    default: data = .summary(points: times.map { SummaryPoint(attributes: [], startTimeUnixNano: 0, timeUnixNano: $0, count: 1, sum: 1, quantiles: []) })
    }
    return Metric(name: "m\(index)", description: "d\(index)", unit: "u\(index)", data: data)
}

/// A batch whose metrics hold `sizes` points; every point has a distinct time.
private func batch(_ sizes: [Int]) -> MetricBatch {
    var t: UInt64 = 1
    var metrics: [Metric] = []
    for (i, size) in sizes.enumerated() {
        metrics.append(metric(i, points: size, from: t))
        t += UInt64(size)
    }
    return MetricBatch(resource: [Attribute("service.name", .string("otel-bridge"))],
                       scope: InstrumentationScope(name: "otel-bridge", version: "0.1.0"), metrics: metrics)
}

/// (metric name, point time) of every point, in order.
private func flatten(_ b: MetricBatch) -> [String] {
    b.metrics.flatMap { m -> [String] in
        let times: [UInt64] = switch m.data {
        case .sum(_, _, let p), .gauge(let p): p.map(\.timeUnixNano)
        case .histogram(_, let p): p.map(\.timeUnixNano)
        case .summary(let p): p.map(\.timeUnixNano)
        }
        return times.map { "\(m.name)@\($0)" }
    }
}

@Suite("MetricBatch.halves")
struct HalvesTests {
    @Test("every point is kept exactly once and in order, across metrics", arguments: [
        [1], [2], [5], [1, 1, 1], [3, 0, 4, 2], [0, 7], [10, 1], [1, 10], [4, 4, 4, 4], [2, 3, 5, 7, 11],
    ])
    func halves(sizes: [Int]) {
        let original = batch(sizes)
        let (a, b) = original.halves()
        #expect(flatten(a) + flatten(b) == flatten(original))
        #expect(a.pointCount == original.pointCount / 2)
        #expect(b.pointCount == original.pointCount - original.pointCount / 2)
        #expect(a.resource == original.resource && b.resource == original.resource)
        #expect(a.scope == original.scope && b.scope == original.scope)
        // A metric split across the halves keeps its name, unit, description and data type.
        for part in a.metrics + b.metrics {
            let source = original.metrics.first { $0.name == part.name }
            #expect(source?.unit == part.unit && source?.description == part.description)
            switch (source?.data, part.data) {
            case (.sum(let m1, let t1, _)?, .sum(let m2, let t2, _)): #expect(m1 == m2 && t1 == t2)
            case (.gauge?, .gauge), (.summary?, .summary): break
            case (.histogram(let t1, _)?, .histogram(let t2, _)): #expect(t1 == t2)
            default: Issue.record("data type of \(part.name) changed")
            }
        }
    }

    @Test("a metric split in the middle appears in both halves")
    func splitMetric() {
        let (a, b) = batch([2, 4]).halves()
        #expect(a.metrics.map(\.name) == ["m0", "m1"])
        #expect(b.metrics.map(\.name) == ["m1"])
        #expect(flatten(a) == ["m0@1", "m0@2", "m1@3"])
        #expect(flatten(b) == ["m1@4", "m1@5", "m1@6"])
    }
}

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
        let summary = Metric(name: "l", description: "", unit: "s", data: .summary(points: [
            SummaryPoint(attributes: [], startTimeUnixNano: UInt64(T), timeUnixNano: end, count: 4, sum: 2,
                         quantiles: [.init(quantile: 0.5, value: 0.25), .init(quantile: 0.99, value: 1.5)]),
        ]))
        #expect(PrintingSink.lines(summary) == ["2026-11-29T10:00:00Z..2026-11-29T10:01:00Z  l  {}  count=4 sum=2.0 q0.5=0.25 q0.99=1.5"])
    }
}
