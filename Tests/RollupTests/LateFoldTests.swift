import Checkpoints
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
private let duration = mapping("m.duration", .histogram(.init(bounds: [0.1, 1], countColumn: "c", sumColumn: "s", minColumn: "mn",
                                                         maxColumn: "mx", bucketCountsColumn: "b")))
private let latency = mapping("m.latency", .summary(.init(quantiles: [0.5], quantileValuesColumn: "q", countColumn: "c", sumColumn: "s")))
private let temperature = mapping("m.temperature", .gauge(.init(valueColumn: "t", valueType: .double)))
private let metrics = [requests, cost, duration, latency, temperature]
private let gauges = [false, false, false, false, true]

/// The series of `provider` under metric `m`: its index in `table`.
private func series(_ m: Int, _ provider: String, _ table: SeriesTable) -> Int {
    table.canonicalSeries(metric: m, name: metrics[m].name, attributes: [Attribute("gen_ai.provider.name", .string(provider))])
}

@Suite("Late rows folded")
struct LateFoldTests {
    @Test("stored values read back exactly, gauges left out")
    func encoding() throws {
        let table = SeriesTable()
        let a = series(0, "openai", table), c = series(1, "openai", table), h = series(2, "openai", table), q = series(3, "openai", table), t = series(4, "openai", table)
        let observations = [
            BucketObservation(series: a, observation: .int(-7)),
            BucketObservation(series: c, observation: .double(0.1 + 0.2)),
            BucketObservation(series: h, observation: .histogram(count: 3, sum: 1.25, min: 0.05, max: 1, buckets: [1, 1, 1])),
            BucketObservation(series: q, observation: .summary(count: 2, sum: 0.3, quantiles: [0.1])),
            BucketObservation(series: t, observation: .double(21)),
        ]
        let decoded = try #require(LateFold.decode(LateFold.encode(observations, gauges: gauges, series: table)))
        #expect(decoded.count == 4)
        #expect(decoded[LateFold.key(a, in: table)] == .int(-7))
        #expect(decoded[LateFold.key(c, in: table)] == .double(0.1 + 0.2))
        #expect(decoded[LateFold.key(h, in: table)] == .histogram(count: 3, sum: 1.25, min: nil, max: nil, buckets: [1, 1, 1]))
        #expect(decoded[LateFold.key(q, in: table)] == .summary(count: 2, sum: 0.3, quantiles: []))
        #expect(LateFold.decode("m\tid\tx1\n") == nil, "text that is not the encoding is refused")
        #expect(LateFold.decode("")?.isEmpty == true)
    }

    @Test("the difference per kind: what was added, never a count that went down, float noise is no difference")
    func difference() {
        #expect(LateFold.difference(.int(10), exported: .int(7)) == .fold(.int(3)))
        #expect(LateFold.difference(.int(7), exported: .int(7)) == .none)
        #expect(LateFold.difference(.int(5), exported: .int(7)) == .unfoldable)
        #expect(LateFold.difference(.double(0.1 + 0.2), exported: .double(0.3)) == .none)
        #expect(LateFold.difference(.double(1.5), exported: .double(1)) == .fold(.double(0.5)))
        #expect(LateFold.difference(.histogram(count: 5, sum: 2, min: 0.01, max: 1, buckets: [2, 2, 1]),
                                    exported: .histogram(count: 3, sum: 1.5, min: nil, max: nil, buckets: [1, 1, 1]))
                == .fold(.histogram(count: 2, sum: 0.5, min: nil, max: nil, buckets: [1, 1, 0])))
        #expect(LateFold.difference(.histogram(count: 3, sum: 1, min: nil, max: nil, buckets: [3, 0, 0]),
                                    exported: .histogram(count: 3, sum: 1, min: nil, max: nil, buckets: [1, 1, 1])) == .unfoldable)
        #expect(LateFold.difference(.summary(count: 4, sum: 1, quantiles: [0.2]), exported: .summary(count: 3, sum: 0.75, quantiles: []))
                == .fold(.summary(count: 1, sum: 0.25, quantiles: [])))
        // A series new in the bucket: all of it, without min, max or quantiles.
        #expect(LateFold.difference(.histogram(count: 1, sum: 2, min: 2, max: 2, buckets: [0, 0, 1]), exported: nil)
                == .fold(.histogram(count: 1, sum: 2, min: nil, max: nil, buckets: [0, 0, 1])))
        #expect(LateFold.difference(.int(1), exported: .double(1)) == .unfoldable)
    }

    @Test("changed buckets give one carry per series, summed over buckets; unchanged digests and other definitions are skipped")
    func compare() throws {
        let table = SeriesTable()
        let a = series(0, "openai", table), b = series(0, "anthropic", table), gone = series(0, "mistral", table), t = series(4, "openai", table)
        let m0 = T, m1 = T + step, m2 = T + 2 * step, m3 = T + 3 * step
        func digest(_ n: Int) -> BucketDigest {
            var d = BucketDigest()
            d.observations = n
            d.hash = UInt64(n)
            return d
        }
        let exported0 = LateFold.encode([BucketObservation(series: a, observation: .int(2)), BucketObservation(series: gone, observation: .int(1))], gauges: gauges, series: table)
        let exported1 = LateFold.encode([BucketObservation(series: a, observation: .int(5))], gauges: gauges, series: table)
        let stored: [Int64: BucketDigestRecord] = [
            m0: BucketDigestRecord(bucketStart: UTCInstant(unixNanoseconds: m0), digest: digest(1).text(fingerprint: "fp"), exported: exported0),
            m1: BucketDigestRecord(bucketStart: UTCInstant(unixNanoseconds: m1), digest: digest(2).text(fingerprint: "fp"), exported: exported1),
            m2: BucketDigestRecord(bucketStart: UTCInstant(unixNanoseconds: m2), digest: digest(3).text(fingerprint: "fp"), exported: ""),
            m3: BucketDigestRecord(bucketStart: UTCInstant(unixNanoseconds: m3), digest: "old:1:1", exported: ""),
        ]
        let current: [Int64: LateBucket] = [
            // m0: a grew by 3, b is new (4), the mistral series is gone, the gauge changed.
            m0: LateBucket(digest: digest(9), observations: [
                BucketObservation(series: a, observation: .int(5)), BucketObservation(series: b, observation: .int(4)),
                BucketObservation(series: t, observation: .double(30)),
            ]),
            // m1: a grew by 1.
            m1: LateBucket(digest: digest(8), observations: [BucketObservation(series: a, observation: .int(6))]),
            // m2: unchanged digest: not compared.
            m2: LateBucket(digest: digest(3), observations: [BucketObservation(series: a, observation: .int(100))]),
            // m3: another definition: not compared.
            m3: LateBucket(digest: digest(7), observations: [BucketObservation(series: a, observation: .int(100))]),
        ]
        let found = LateFold.compare(stored: stored, current: current, fingerprint: "fp", gauges: gauges, series: table)
        #expect(found.late.buckets == 2)
        #expect(found.late.folded == 3 && found.late.unfolded == 1)
        #expect(found.carries.map { LateFold.key($0.series, in: table) } == [LateFold.key(a, in: table), LateFold.key(b, in: table)])
        #expect(found.carries.map(\.value) == [.int(4), .int(4)])
        #expect(found.late.records.map(\.bucketStart.unixNanoseconds) == [m0, m1])
        #expect(found.late.records.map(\.digest) == [digest(9).text(fingerprint: "fp"), digest(8).text(fingerprint: "fp")])
        let baseline = try #require(found.late.records.first?.exported.flatMap(LateFold.decode))
        #expect(baseline == [LateFold.key(a, in: table): .int(5), LateFold.key(b, in: table): .int(4)], "the new baseline is the bucket now")

        // The same buckets compared with their new baseline: nothing more to fold.
        var updated = stored
        for r in found.late.records { updated[r.bucketStart.unixNanoseconds] = r }
        let again = LateFold.compare(stored: updated, current: current, fingerprint: "fp", gauges: gauges, series: table)
        #expect(again.late.buckets == 0 && again.carries.isEmpty)

        // A bucket stored without values (exported under late_data: report) is reported, not folded.
        var bare = stored
        bare[m1]!.exported = nil
        let reported = LateFold.compare(stored: bare, current: current, fingerprint: "fp", gauges: gauges, series: table)
        #expect(reported.late.buckets == 2 && reported.late.folded == 2 && reported.carries.map(\.value) == [.int(3), .int(4)])
    }

    @Test("delta: the carry goes into the next bucket's point, and a series without rows there still gets one")
    func deltaCarry() throws {
        let table = SeriesTable()
        let agg = SeriesAggregator(pipeline: "p", temporality: .delta, expirySeconds: 86_400, source: MemorySeries(), table: table)
        let a = series(0, "openai", table), b = series(0, "anthropic", table), h = series(2, "openai", table)
        try agg.carry([Carry(series: a, value: .int(3)), Carry(series: b, value: .int(2)),
                       Carry(series: h, value: .histogram(count: 1, sum: 0.5, min: nil, max: nil, buckets: [0, 1, 0]))])
        try agg.carry([Carry(series: a, value: .int(1))])
        #expect(agg.hasCarry)
        let bucket = ResultBucket(start: T, observations: [
            BucketObservation(series: a, observation: .int(10)),
            BucketObservation(series: h, observation: .histogram(count: 2, sum: 0.1, min: 0.02, max: 0.08, buckets: [2, 0, 0])),
        ], rows: 2, digest: BucketDigest())
        let points = try agg.points(of: bucket, metrics: metrics, step: step)
        #expect(!agg.hasCarry)
        let byKey = Dictionary(uniqueKeysWithValues: points.map { (LateFold.key($0.series, in: table), $0) })
        #expect(points.count == 3)
        #expect(byKey[LateFold.key(a, in: table)]?.value == .int(14))
        #expect(byKey[LateFold.key(b, in: table)]?.value == .int(2), "late rows of a series without rows in the bucket")
        #expect(byKey[LateFold.key(b, in: table)]?.start == UInt64(T))
        #expect(byKey[LateFold.key(h, in: table)]?.value == .histogram(count: 3, sum: 0.6, min: 0.02, max: 0.08, buckets: [2, 1, 0]),
                "min and max stay the bucket's own")
        // Carried once: the next bucket has its own values only.
        let next = ResultBucket(start: T + step, observations: [BucketObservation(series: a, observation: .int(1))], rows: 1, digest: BucketDigest())
        #expect(try agg.points(of: next, metrics: metrics, step: step).map(\.value) == [.int(1)])
    }

    @Test("a point made of carried values alone carries the largest exemplar of them; a point with rows keeps its bucket's")
    func carriedExemplar() throws {
        let table = SeriesTable()
        let agg = SeriesAggregator(pipeline: "p", temporality: .delta, expirySeconds: 86_400, source: MemorySeries(), table: table)
        let a = series(0, "openai", table), b = series(0, "anthropic", table)
        func ex(_ v: Double) -> Exemplar { Exemplar(timeUnixNano: 1, value: v, traceID: [UInt8](repeating: 1, count: 16), spanID: [UInt8](repeating: 2, count: 8)) }
        try agg.carry([Carry(series: a, value: .int(3), exemplar: ex(9)), Carry(series: b, value: .int(2), exemplar: ex(4))])
        try agg.carry([Carry(series: b, value: .int(1), exemplar: ex(7))])
        let bucket = ResultBucket(start: T, observations: [BucketObservation(series: a, observation: .int(10), exemplar: ex(1))],
                                  rows: 1, digest: BucketDigest())
        let byKey = Dictionary(uniqueKeysWithValues: try agg.points(of: bucket, metrics: metrics, step: step).map { (LateFold.key($0.series, in: table), $0) })
        #expect(byKey[LateFold.key(a, in: table)]?.exemplar?.value == 1, "the bucket's own request")
        #expect(byKey[LateFold.key(b, in: table)]?.exemplar?.value == 7, "the largest of the carried ones")
    }

    @Test("cumulative: the running total includes the carry from that point on")
    func cumulativeCarry() throws {
        let table = SeriesTable()
        let agg = SeriesAggregator(pipeline: "p", temporality: .cumulative, expirySeconds: 86_400, source: MemorySeries(), table: table)
        let a = series(0, "openai", table), b = series(0, "anthropic", table), q = series(3, "openai", table)
        let first = ResultBucket(start: T, observations: [
            BucketObservation(series: a, observation: .int(5)), BucketObservation(series: q, observation: .summary(count: 2, sum: 1, quantiles: [0.4])),
        ], rows: 1, digest: BucketDigest())
        _ = try agg.points(of: first, metrics: metrics, step: step)
        _ = agg.takeChanges()
        try agg.carry([Carry(series: a, value: .int(2)), Carry(series: b, value: .int(7)),
                       Carry(series: q, value: .summary(count: 1, sum: 0.5, quantiles: []))])
        let second = ResultBucket(start: T + step, observations: [BucketObservation(series: a, observation: .int(1))], rows: 1, digest: BucketDigest())
        let points = try agg.points(of: second, metrics: metrics, step: step)
        let byKey = Dictionary(uniqueKeysWithValues: points.map { (LateFold.key($0.series, in: table), $0) })
        #expect(byKey[LateFold.key(a, in: table)]?.value == .int(8))
        #expect(byKey[LateFold.key(a, in: table)]?.start == UInt64(T), "the series keeps its start time")
        #expect(byKey[LateFold.key(b, in: table)]?.value == .int(7))
        #expect(byKey[LateFold.key(b, in: table)]?.start == UInt64(T + step), "a series that only has late rows starts at the point that carries them")
        #expect(byKey[LateFold.key(q, in: table)]?.value == .summary(count: 3, sum: 1.5, quantiles: []), "no quantiles for late rows alone")
        let third = ResultBucket(start: T + 2 * step, observations: [BucketObservation(series: a, observation: .int(1))], rows: 1, digest: BucketDigest())
        #expect(try agg.points(of: third, metrics: metrics, step: step).map(\.value) == [.int(9)])
        #expect(agg.directory.states(of: agg.takeChanges()).first { $0.seriesID == table.identity(a).seriesID }?.intTotal == 9)
    }
}
