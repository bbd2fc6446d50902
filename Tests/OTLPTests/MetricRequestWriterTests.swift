import Testing
@testable import OTLP

/// The writer must give, byte for byte, what swift-protobuf gives for the same batch: it only
/// moves where the encoding happens (once per point, when a bucket is read).
@Suite("Requests written from points encoded once")
struct MetricRequestWriterTests {
    /// A small deterministic generator (no seed from the clock: a failure reproduces).
    struct Generator {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
    }

    static let headers: [Metric] = [
        Metric(name: "portkey.requests", description: "Requests", unit: "{request}", data: .sum(isMonotonic: true, temporality: .cumulative, points: [])),
        Metric(name: "portkey.cost", description: "", unit: "", data: .sum(isMonotonic: false, temporality: .delta, points: [])),
        Metric(name: "gen_ai.client.operation.duration", description: "Latency \"quoted\" ü", unit: "s", data: .histogram(temporality: .delta, points: [])),
        Metric(name: "portkey.latency", description: "Percentiles", unit: "ms", data: .summary(points: [])),
        Metric(name: "portkey.in_flight", description: "Gauge", unit: "1", data: .gauge(points: [])),
    ]

    static func points(for metric: Int, count: Int, bucket: UInt64, _ g: inout Generator) -> MetricData {
        func attrs() -> [Attribute] {
            (0..<g.next(4)).map { i in
                switch g.next(4) {
                case 0: Attribute("k\(i)", .string(["openai", "", "a\u{1}b", "modèle\n", String(repeating: "x", count: 300)][g.next(5)]))
                case 1: Attribute("k\(i)", .int(Int64(g.next(1000)) - 500))
                case 2: Attribute("k\(i)", .double(Double(g.next(1000)) / 7))
                default: Attribute("k\(i)", .bool(g.next(2) == 0))
                }
            }
        }
        let start = bucket * 60_000_000_000
        switch headers[metric].data {
        case .sum(let m, let t, _):
            return .sum(isMonotonic: m, temporality: t, points: (0..<count).map { _ in
                NumberPoint(attributes: attrs(), startTimeUnixNano: start, timeUnixNano: start + 60_000_000_000,
                            value: g.next(2) == 0 ? .int(Int64(g.next(100_000))) : .double(Double(g.next(100_000)) / 3))
            })
        case .gauge:
            return .gauge(points: (0..<count).map { _ in
                NumberPoint(attributes: attrs(), startTimeUnixNano: start, timeUnixNano: start + 60_000_000_000, value: .int(Int64(g.next(10)) - 5))
            })
        case .histogram(let t, _):
            return .histogram(temporality: t, points: (0..<count).map { _ in
                HistogramPoint(attributes: attrs(), startTimeUnixNano: start, timeUnixNano: start + 60_000_000_000,
                               count: UInt64(g.next(50)), sum: g.next(3) == 0 ? nil : Double(g.next(999)),
                               bucketCounts: [UInt64(g.next(9)), 0, UInt64(g.next(9))], explicitBounds: [0.5, 2.5],
                               min: g.next(2) == 0 ? nil : 0.1, max: g.next(2) == 0 ? nil : 9.5)
            })
        case .summary:
            return .summary(points: (0..<count).map { _ in
                SummaryPoint(attributes: attrs(), startTimeUnixNano: start, timeUnixNano: start + 60_000_000_000,
                             count: UInt64(g.next(50)), sum: Double(g.next(999)),
                             quantiles: [.init(quantile: 0.5, value: 1.5), .init(quantile: 0.99, value: Double(g.next(100)))])
            })
        }
    }

    /// Buckets of points for some of the metrics, and the batch swift-protobuf would encode.
    static func scenario(seed: UInt64, buckets: Int) -> (buckets: [[(metric: Int, data: MetricData)]], batch: MetricBatch) {
        var g = Generator(state: seed)
        var out: [[(metric: Int, data: MetricData)]] = []
        var byMetric: [Int: [MetricData]] = [:]
        for b in 0..<buckets {
            var bucket: [(metric: Int, data: MetricData)] = []
            for m in headers.indices where g.next(3) != 0 {
                let data = points(for: m, count: 1 + g.next(6), bucket: UInt64(b), &g)
                bucket.append((m, data))
                byMetric[m, default: []].append(data)
            }
            out.append(bucket)
        }
        var metrics: [Metric] = []
        for m in headers.indices {
            guard let datas = byMetric[m] else { continue }
            var metric = headers[m]
            metric.data = datas.dropFirst().reduce(datas[0]) { $0.appending($1) }
            metrics.append(metric)
        }
        return (out, MetricBatch(resource: resource, scope: scope, metrics: metrics))
    }

    static let resource = [Attribute("service.name", .string("gateway")), Attribute("deployment.environment", .string("prod"))]
    static let scope = InstrumentationScope(name: "otel-bridge", version: "1.2.3")

    @Test("byte for byte what swift-protobuf writes, protobuf and JSON", arguments: [
        OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON,
    ])
    func sameBytes(wire: OTLPExporterConfiguration.WireProtocol) throws {
        for seed in UInt64(1)...40 {
            let (buckets, batch) = Self.scenario(seed: seed, buckets: 1 + Int(seed % 5))
            let writer = try MetricRequestWriter(resource: Self.resource, scope: Self.scope, metrics: Self.headers, wireProtocol: wire)
            let parts = buckets.flatMap { writer.encode($0, budget: Int.max) }
            #expect(parts.count == buckets.filter { !$0.isEmpty }.count)
            let expected = try SwiftProtobufMetricsEncoder().encode(batch, as: wire)
            #expect(writer.assemble(parts) == expected, "seed \(seed)")
            #expect(parts.reduce(0) { $0 + $1.pointCount } == batch.pointCount)
        }
    }

    @Test("an empty resource is written as swift-protobuf writes it")
    func emptyResource() throws {
        let (buckets, batch) = Self.scenario(seed: 7, buckets: 2)
        for wire in [OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON] {
            let writer = try MetricRequestWriter(resource: [], scope: Self.scope, metrics: Self.headers, wireProtocol: wire)
            var empty = batch
            empty.resource = []
            #expect(writer.assemble(buckets.flatMap { writer.encode($0, budget: Int.max) }) == (try SwiftProtobufMetricsEncoder().encode(empty, as: wire)))
        }
    }

    @Test("a bucket larger than the budget is cut into parts that each fit, and nothing is lost", arguments: [
        OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON,
    ])
    func cutToBudget(wire: OTLPExporterConfiguration.WireProtocol) throws {
        let writer = try MetricRequestWriter(resource: Self.resource, scope: Self.scope, metrics: Self.headers, wireProtocol: wire)
        let limit = 2048
        let (buckets, _) = Self.scenario(seed: 99, buckets: 1)
        var g = Generator(state: 5)
        let big = buckets[0] + [(0, Self.points(for: 0, count: 200, bucket: 0, &g))]
        let parts = writer.encode(big, budget: limit - writer.overhead)
        #expect(parts.count > 1)
        var total = 0
        for part in parts {
            let body = writer.assemble([part])
            #expect(body.count <= limit)
            #expect(body.count <= writer.overhead + part.byteCount)
            total += part.pointCount
            // Each part is a request the official decoder reads.
            switch wire {
            case .httpProtobuf:
                let decoded = try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest(serializedBytes: body)
                #expect(decoded.resourceMetrics.count == 1)
            case .httpJSON:
                _ = try Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest(jsonUTF8Bytes: body)
            }
        }
        #expect(total == big.reduce(0) { $0 + $1.data.pointCount })
    }

    @Test("a request of several parts is never larger than the framing plus the parts' byte counts", arguments: [
        OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON,
    ])
    func requestSizeBound(wire: OTLPExporterConfiguration.WireProtocol) throws {
        let writer = try MetricRequestWriter(resource: Self.resource, scope: Self.scope, metrics: Self.headers, wireProtocol: wire)
        for seed in UInt64(100)...130 {
            let (buckets, _) = Self.scenario(seed: seed, buckets: 1 + Int(seed % 7))
            let parts = buckets.flatMap { writer.encode($0, budget: Int.max) }
            let bound = writer.overhead + parts.reduce(0) { $0 + $1.byteCount }
            #expect(writer.assemble(parts).count <= bound, "seed \(seed)")
        }
        // The smallest allowed max_request_bytes (1 KiB) still holds several small points per request.
        var g = Generator(state: 9)
        let small = writer.encode([(0, Self.points(for: 0, count: 40, bucket: 0, &g))], budget: 1024 - writer.overhead)
        #expect(small.count < 40)
        for part in small { #expect(writer.assemble([part]).count <= 1024 || part.pointCount == 1) }
    }

    @Test("a point larger than the budget goes alone")
    func pointAlone() throws {
        let writer = try MetricRequestWriter(resource: Self.resource, scope: Self.scope, metrics: Self.headers, wireProtocol: .httpProtobuf)
        var g = Generator(state: 3)
        let parts = writer.encode([(0, Self.points(for: 0, count: 3, bucket: 0, &g))], budget: 1)
        #expect(parts.map { $0.pointCount } == [1, 1, 1])
    }
}

extension MetricData {
    /// The points of `other` after these (same kind).
    func appending(_ other: MetricData) -> MetricData {
        switch (self, other) {
        case (.sum(let m, let t, let a), .sum(_, _, let b)): .sum(isMonotonic: m, temporality: t, points: a + b)
        case (.gauge(let a), .gauge(let b)): .gauge(points: a + b)
        case (.histogram(let t, let a), .histogram(_, let b)): .histogram(temporality: t, points: a + b)
        case (.summary(let a), .summary(let b)): .summary(points: a + b)
        default: fatalError("different kinds")
        }
    }
}
