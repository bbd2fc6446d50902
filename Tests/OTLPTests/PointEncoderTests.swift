import Foundation
import Testing
@testable import OTLP

/// The hand-written protobuf encoder (``BucketWriter``) against swift-protobuf, over generated
/// batches full of edge values: each point's bytes, each request's bytes, the parts a bucket is
/// cut into, and what the official Python classes decode.
@Suite("Data points written directly, byte for byte as swift-protobuf writes them")
struct PointEncoderTests {
    typealias Generator = MetricRequestWriterTests.Generator
    typealias Bucket = [(metric: Int, data: MetricData)]

    /// Sum (int and double values, cumulative and delta), histogram, summary and gauge.
    static let headers = MetricRequestWriterTests.headers
    static let resource = MetricRequestWriterTests.resource
    static let scope = MetricRequestWriterTests.scope

    static let strings = [
        "", "openai", "a\u{0}b", "modèle ü 日本語 🚀", String(repeating: "é", count: 100),  // 200 bytes: a 2-byte length
        String(repeating: "x", count: 20_000),  // a 3-byte length
    ]
    static let keys = ["", "k", "gen_ai.provider.name", String(repeating: "ключ", count: 40)]
    static let ints: [Int64] = [0, 1, -1, 127, 128, -500, 1 << 40, .min, .max]
    static let doubles: [Double] = [
        0, -0.0, 1.5, -2.25, .nan, -.nan, Double(bitPattern: 0x7FF8_0000_0000_0001), .infinity, -.infinity,
        .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1e-300,
    ]
    static let times: [UInt64] = [0, 1, 1_767_225_600_000_000_000, .max]
    static let counts: [UInt64] = [0, 1, 42, .max]

    static func pick<T>(_ values: [T], _ g: inout Generator) -> T { values[g.next(values.count)] }

    static func attributes(_ g: inout Generator) -> [Attribute] {
        (0..<g.next(6)).map { _ in
            let key = pick(keys, &g)
            switch g.next(4) {
            case 0: return Attribute(key, .string(pick(strings, &g)))
            case 1: return Attribute(key, .int(pick(ints, &g)))
            case 2: return Attribute(key, .double(pick(doubles, &g)))
            default: return Attribute(key, .bool(g.next(2) == 0))
            }
        }
    }

    static let ids: [[UInt8]] = [[], Array(0..<8), Array(200..<216), [0xFF, 0, 0x2B, 0x2F, 0x3D, 0x0A, 0x22, 0x5C]]

    /// None, one (the bridge's case) or a few exemplars, with edge times, values and ids.
    static func exemplars(_ g: inout Generator) -> [Exemplar] {
        (0..<[0, 1, 1, 3][g.next(4)]).map { _ in
            Exemplar(timeUnixNano: pick(times, &g), value: pick(doubles, &g), traceID: pick(ids, &g), spanID: pick(ids, &g))
        }
    }

    /// `count` points of metric `metric`, their attributes taken from `series`.
    static func points(for metric: Int, count: Int, series: [[Attribute]], _ g: inout Generator) -> MetricData {
        func attrs() -> [Attribute] { series[g.next(series.count)] }
        func optional(_ g: inout Generator) -> Double? { g.next(3) == 0 ? nil : pick(doubles, &g) }
        switch headers[metric].data {
        case .sum(let m, let t, _):
            return .sum(isMonotonic: m, temporality: t, points: (0..<count).map { _ in
                NumberPoint(attributes: attrs(), startTimeUnixNano: pick(times, &g), timeUnixNano: pick(times, &g),
                            value: g.next(2) == 0 ? .int(pick(ints, &g)) : .double(pick(doubles, &g)), exemplars: exemplars(&g))
            })
        case .gauge:
            return .gauge(points: (0..<count).map { _ in
                NumberPoint(attributes: attrs(), startTimeUnixNano: pick(times, &g), timeUnixNano: pick(times, &g),
                            value: g.next(2) == 0 ? .int(pick(ints, &g)) : .double(pick(doubles, &g)))
            })
        case .histogram(let t, _):
            return .histogram(temporality: t, points: (0..<count).map { _ in
                // Up to 20 bounds: 160 bytes, a 2-byte length.
                let bounds = (0..<[0, 1, 3, 20][g.next(4)]).map { _ in pick(doubles, &g) }
                let buckets = g.next(5) == 0 ? [] : (0...bounds.count).map { _ in pick(counts, &g) }
                return HistogramPoint(attributes: attrs(), startTimeUnixNano: pick(times, &g), timeUnixNano: pick(times, &g),
                                      count: pick(counts, &g), sum: optional(&g), bucketCounts: buckets, explicitBounds: bounds,
                                      min: optional(&g), max: optional(&g), exemplars: exemplars(&g))
            })
        case .summary:
            return .summary(points: (0..<count).map { _ in
                SummaryPoint(attributes: attrs(), startTimeUnixNano: pick(times, &g), timeUnixNano: pick(times, &g),
                             count: pick(counts, &g), sum: pick(doubles, &g),
                             quantiles: (0..<g.next(5)).map { _ in .init(quantile: pick(doubles, &g), value: pick(doubles, &g)) })
            })
        }
    }

    /// Buckets of points for every metric (some left out now and then), over a pool of series, and
    /// the batch swift-protobuf would encode.
    static func scenario(seed: UInt64, buckets: Int, pointsPerMetric: Int = 6) -> (series: [[Attribute]], buckets: [Bucket], batch: MetricBatch) {
        var g = Generator(state: seed)
        let series = (0..<1 + g.next(8)).map { _ in attributes(&g) }
        var out: [Bucket] = []
        var byMetric: [Int: [MetricData]] = [:]
        for _ in 0..<buckets {
            var bucket: Bucket = []
            for m in headers.indices where g.next(5) != 0 {
                let data = points(for: m, count: 1 + g.next(pointsPerMetric), series: series, &g)
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
        return (series, out, MetricBatch(resource: resource, scope: scope, metrics: metrics))
    }

    static func protobufWriter() throws -> MetricRequestWriter {
        try MetricRequestWriter(resource: resource, scope: scope, metrics: headers, wireProtocol: .httpProtobuf)
    }

    /// Each point as swift-protobuf serializes it, framed as a `data_points` field.
    static func referenceBytes(_ data: MetricData) throws -> [UInt8] {
        let messages: [[UInt8]]
        switch data {
        case .sum(_, _, let ps), .gauge(let ps): messages = try ps.map { try $0.proto.serializedBytes() }
        case .histogram(_, let ps): messages = try ps.map { try $0.proto.serializedBytes() }
        case .summary(let ps): messages = try ps.map { try $0.proto.serializedBytes() }
        }
        var out: [UInt8] = []
        for m in messages {
            out.append(0x0A)
            out.appendVarint(m.count)
            out.append(contentsOf: m)
        }
        return out
    }

    @Test("every point's bytes are swift-protobuf's", arguments: UInt64(1)...30)
    func pointBytes(seed: UInt64) throws {
        let writer = try Self.protobufWriter()
        let (_, buckets, _) = Self.scenario(seed: seed, buckets: 3)
        for bucket in buckets where !bucket.isEmpty {
            let parts = writer.encode(bucket, budget: .max)
            try #require(parts.count == 1)
            #expect(parts[0].slots.map(\.metric) == bucket.map(\.metric))
            for (slot, (_, data)) in zip(parts[0].slots, bucket) {
                #expect(slot.bytes == (try Self.referenceBytes(data)), "seed \(seed), metric \(slot.metric)")
                #expect(slot.pointCount == data.pointCount)
            }
        }
    }

    @Test("requests are byte for byte swift-protobuf's, in protobuf and JSON", arguments: [
        OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON,
    ])
    func requestBytes(wire: OTLPExporterConfiguration.WireProtocol) throws {
        let writer = try MetricRequestWriter(resource: Self.resource, scope: Self.scope, metrics: Self.headers, wireProtocol: wire)
        for seed in UInt64(1)...30 {
            let (_, buckets, batch) = Self.scenario(seed: seed, buckets: 1 + Int(seed % 4))
            let parts = buckets.flatMap { writer.encode($0, budget: .max) }
            #expect(writer.assemble(parts) == (try SwiftProtobufMetricsEncoder().encode(batch, as: wire)), "seed \(seed)")
        }
    }

    @Test("an exemplar's ids are hex in OTLP/JSON, in the writer's points and the reference request alike")
    func exemplarIDsInJSON() throws {
        let exemplar = Exemplar(timeUnixNano: 1_767_225_600_123_000_000, value: 2.5, traceID: Array(200..<216), spanID: [0xFF, 0, 0x2B, 0x2F, 0x3D, 0x0A, 0x22, 0x5C])
        let point = HistogramPoint(attributes: [Attribute("traceId", .string(#""traceId":"AAAA""#))], startTimeUnixNano: 1, timeUnixNano: 2,
                                   count: 1, sum: 2.5, bucketCounts: [0, 1], explicitBounds: [1], min: 2.5, max: 2.5, exemplars: [exemplar])
        var metric = Self.headers[2]
        metric.data = .histogram(temporality: .delta, points: [point])
        let writer = try MetricRequestWriter(resource: Self.resource, scope: Self.scope, metrics: Self.headers, wireProtocol: .httpJSON)
        let json = String(decoding: writer.assemble(writer.encode([(2, metric.data)], budget: .max)), as: UTF8.self)
        #expect(json.contains(#""traceId":"c8c9cacbcccdcecfd0d1d2d3d4d5d6d7""#), "\(json)")
        #expect(json.contains(#""spanId":"ff002b2f3d0a225c""#), "\(json)")
        #expect(json.contains(#"\"traceId\":\"AAAA\""#), "an attribute's value is left alone: \(json)")
        #expect(json.contains(#""asDouble":2.5"#) && json.contains(#""timeUnixNano":"1767225600123000000""#), "\(json)")
        let reference = try SwiftProtobufMetricsEncoder().encode(MetricBatch(resource: Self.resource, scope: Self.scope, metrics: [metric]), as: .httpJSON)
        #expect(Array(json.utf8) == reference)
    }

    @Test("attributes are encoded as swift-protobuf encodes the KeyValues of a point")
    func attributeBytes() throws {
        let writer = try Self.protobufWriter()
        var g = Generator(state: 11)
        for _ in 0..<200 {
            let attributes = Self.attributes(&g)
            var number = Opentelemetry_Proto_Metrics_V1_NumberDataPoint()
            number.attributes = attributes.map(\.proto)
            var histogram = Opentelemetry_Proto_Metrics_V1_HistogramDataPoint()
            histogram.attributes = attributes.map(\.proto)
            #expect(writer.encodedAttributes(attributes, metric: 0).protobuf == (try number.serializedBytes()))
            #expect(writer.encodedAttributes(attributes, metric: 2).protobuf == (try histogram.serializedBytes()))
            #expect(writer.encodedAttributes(attributes, metric: 2).attributes == attributes)
        }
        let json = try MetricRequestWriter(resource: [], scope: Self.scope, metrics: Self.headers, wireProtocol: .httpJSON)
        #expect(json.encodedAttributes([Attribute("a", .int(1))], metric: 0).protobuf == [])
    }

    /// Feeds a BucketWriter as the pass does: each series' attributes encoded once per metric.
    static func feed(_ writer: MetricRequestWriter, _ bucket: Bucket, series: [[Attribute]], budget: Int) -> [EncodedPoints] {
        var encoded: [Int: [EncodedAttributes]] = [:]
        func attributes(_ a: [Attribute], _ metric: Int) -> EncodedAttributes {
            let all = encoded[metric] ?? series.map { writer.encodedAttributes($0, metric: metric) }
            encoded[metric] = all
            // By position: NaN attributes make == useless for finding a series.
            return all[series.firstIndex { $0.elementsEqualBits(a) }!]
        }
        var w = writer.bucket(budget: budget)
        for (metric, data) in bucket.sorted(by: { $0.metric < $1.metric }) {
            switch data {
            case .sum(_, _, let ps), .gauge(let ps):
                for p in ps {
                    w.number(metric: metric, attributes: attributes(p.attributes, metric), start: p.startTimeUnixNano,
                             end: p.timeUnixNano, value: p.value, exemplars: p.exemplars)
                }
            case .histogram(_, let ps):
                for p in ps {
                    w.histogram(metric: metric, attributes: attributes(p.attributes, metric), start: p.startTimeUnixNano,
                                end: p.timeUnixNano, count: p.count, sum: p.sum, bucketCounts: p.bucketCounts,
                                explicitBounds: p.explicitBounds, min: p.min, max: p.max, exemplars: p.exemplars)
                }
            case .summary(let ps):
                for p in ps {
                    w.summary(metric: metric, attributes: attributes(p.attributes, metric), start: p.startTimeUnixNano,
                              end: p.timeUnixNano, count: p.count, sum: p.sum, quantiles: p.quantiles)
                }
            }
        }
        return w.finish()
    }

    @Test("a BucketWriter fed point by point gives encode's parts, cut the same way under any budget", arguments: [
        OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON,
    ])
    func bucketWriterParts(wire: OTLPExporterConfiguration.WireProtocol) throws {
        let writer = try MetricRequestWriter(resource: Self.resource, scope: Self.scope, metrics: Self.headers, wireProtocol: wire)
        var cut = false
        for seed in UInt64(1)...20 {
            let (series, buckets, _) = Self.scenario(seed: seed, buckets: 2, pointsPerMetric: 30)
            for budget in [Int.max, 1, 300, 1024 - writer.overhead, 4096, 30_000] {
                for bucket in buckets {
                    let expected = writer.encode(bucket, budget: budget)
                    let parts = Self.feed(writer, bucket, series: series, budget: budget)
                    #expect(parts == expected, "seed \(seed), budget \(budget)")
                    cut = cut || parts.count > 1
                    #expect(parts.reduce(0) { $0 + $1.pointCount } == bucket.reduce(0) { $0 + $1.data.pointCount })
                    for part in parts {
                        #expect(part.byteCount <= budget || part.pointCount == 1, "seed \(seed), budget \(budget)")
                        #expect(writer.assemble([part]).count <= writer.overhead + part.byteCount)
                    }
                }
            }
        }
        #expect(cut, "no bucket was cut: the budgets are too large to test cutting")
    }

    @Test("a BucketWriter can be finished with no points, and reused after finish")
    func emptyAndReused() throws {
        let writer = try Self.protobufWriter()
        var w = writer.bucket(budget: .max)
        #expect(w.finish() == [])
        let a = writer.encodedAttributes([Attribute("k", .string("v"))], metric: 1)
        w.number(metric: 1, attributes: a, start: 1, end: 2, value: .double(0.5))
        let first = w.finish()
        w.number(metric: 1, attributes: a, start: 1, end: 2, value: .double(0.5))
        #expect(w.finish() == first)
        #expect(first.count == 1 && first[0].pointCount == 1)
    }

    // MARK: - The official decoder

    /// The repository root; this file is Tests/OTLPTests/PointEncoderTests.swift.
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// Runs scripts/compare_otlp_decode.py on (new, reference) pairs; its exit status and output.
    static func compareWithOfficialDecoder(_ pairs: [(new: [UInt8], reference: [UInt8])]) throws -> (status: Int32, output: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("otlp-decode-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var arguments = [root.appendingPathComponent("scripts/compare_otlp_decode.py").path]
        for (i, pair) in pairs.enumerated() {
            let new = dir.appendingPathComponent("\(i).new.pb")
            let reference = dir.appendingPathComponent("\(i).swift-protobuf.pb")
            try Data(pair.new).write(to: new)
            try Data(pair.reference).write(to: reference)
            arguments += [new.path, reference.path]
        }
        let process = Process()
        process.executableURL = root.appendingPathComponent(".venv/bin/python")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    /// Generated batches of every metric type: the writer's request and swift-protobuf's.
    static func requestPairs() throws -> [(new: [UInt8], reference: [UInt8])] {
        let writer = try protobufWriter()
        return try (UInt64(1)...12).map { seed in
            let (_, buckets, batch) = scenario(seed: seed, buckets: 1 + Int(seed % 3))
            let parts = buckets.flatMap { writer.encode($0, budget: .max) }
            return (writer.assemble(parts), try SwiftProtobufMetricsEncoder().encode(batch, as: .httpProtobuf))
        }
    }

    @Test("the official opentelemetry-proto classes decode the new encoder's requests to swift-protobuf's")
    func officialDecoder() throws {
        let pairs = try Self.requestPairs()
        // Every metric type is in some batch.
        let kinds = Set(pairs.indices.flatMap { i in Self.scenario(seed: UInt64(i + 1), buckets: 1 + (i + 1) % 3).batch.metrics.map(\.name) })
        #expect(kinds == Set(Self.headers.map(\.name)))
        let (status, output) = try Self.compareWithOfficialDecoder(pairs)
        #expect(status == 0, "\(output)")
        #expect(output.contains("\(pairs.count) pairs decode to equal messages ("), "\(output)")
        #expect(!output.contains("(0 exemplars)"), "the batches should carry exemplars: \(output)")
    }

    @Test("the decode comparison fails when a byte of a value is wrong")
    func officialDecoderSeesCorruption() throws {
        let writer = try Self.protobufWriter()
        let point = NumberPoint(attributes: [Attribute("k", .double(-0.0))], startTimeUnixNano: 1, timeUnixNano: 2, value: .double(1.5))
        var metric = Self.headers[1]
        metric.data = .sum(isMonotonic: false, temporality: .delta, points: [point])
        let reference = try SwiftProtobufMetricsEncoder().encode(MetricBatch(resource: Self.resource, scope: Self.scope, metrics: [metric]),
                                                                  as: .httpProtobuf)
        let new = writer.assemble(writer.encode([(1, metric.data)], budget: .max))
        #expect(new == reference)
        #expect(try Self.compareWithOfficialDecoder([(new, reference)]).status == 0)
        // 1.5 becomes 1.0: the request still decodes, to another value.
        let onePointFive: [UInt8] = [0x21, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]
        let at = try #require((0...(new.count - onePointFive.count)).first { Array(new[$0..<$0 + onePointFive.count]) == onePointFive })
        var corrupt = new
        corrupt[at + 7] = 0xF0
        let (status, output) = try Self.compareWithOfficialDecoder([(corrupt, reference)])
        #expect(status == 1)
        #expect(output.contains("as_double"), "\(output)")
        // -0.0 becomes 0.0, which protobuf's == would call equal.
        var zero = new
        let minusZero: [UInt8] = [0x21, 0, 0, 0, 0, 0, 0, 0, 0x80]
        let z = try #require((0...(new.count - minusZero.count)).first { Array(new[$0..<$0 + minusZero.count]) == minusZero })
        zero[z + 8] = 0
        let (zeroStatus, zeroOutput) = try Self.compareWithOfficialDecoder([(zero, reference)])
        #expect(zeroStatus == 1)
        #expect(zeroOutput.contains("double_value"), "\(zeroOutput)")
    }
}

extension [Attribute] {
    /// Equal keys and values, doubles compared by bit pattern (so NaN equals itself).
    func elementsEqualBits(_ other: [Attribute]) -> Bool {
        count == other.count && zip(self, other).allSatisfy { a, b in
            guard a.key == b.key else { return false }
            switch (a.value, b.value) {
            case (.double(let x), .double(let y)): return x.bitPattern == y.bitPattern
            default: return a.value == b.value
            }
        }
    }
}
