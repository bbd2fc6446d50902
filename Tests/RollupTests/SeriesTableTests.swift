import Checkpoints
import Testing
@testable import ClickHouse
@testable import OTLP
@testable import PipelineConfig
@testable import Rollup

/// A result as ClickHouse writes it (`RowBinaryWithNamesAndTypes`): `bucket DateTime`,
/// `provider String`, `n <valueType>`, one row per (bucket start in seconds, provider, value
/// bytes).
private func result(valueType: String, rows: [(seconds: UInt32, provider: String, value: [UInt8])]) -> [UInt8] {
    var out: [UInt8] = []
    func string(_ s: String) {
        var n = s.utf8.count
        while n >= 0x80 { out.append(UInt8(n & 0x7F) | 0x80); n >>= 7 }
        out.append(UInt8(n))
        out += Array(s.utf8)
    }
    out.append(3)
    for name in ["bucket", "provider", "n"] { string(name) }
    for type in ["DateTime('UTC')", "String", valueType] { string(type) }
    for row in rows {
        withUnsafeBytes(of: row.seconds.littleEndian) { out += $0 }
        string(row.provider)
        out += row.value
    }
    return out
}

private func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

private func pipeline(valueType: String = "int", monotonic: Bool = true) throws -> PipelineConfiguration {
    try parsePipelines("""
        pipelines:
          - name: p
            query: q.sql
            metrics:
              - metric_name: m.requests
                data_type: sum
                value_type: \(valueType)
                monotonic: \(monotonic)
                value_column: n
                attribute_columns: [provider]
        """)[0]
}

private let minute: Int64 = 60 * second
private let window = TimeWindow(start: T, end: T + 60 * minute)
private let planner = WindowPlanner(stepSeconds: 60, lagSeconds: 0, maxBucketsPerQuery: 1000)

/// Every point of the result, read and aggregated as a pass does, as (bucket, provider, start, value).
private func points(_ bytes: [UInt8], _ pipeline: PipelineConfiguration, temporality: AggregationTemporality,
                    table: SeriesTable) throws -> [String] {
    let aggregator = SeriesAggregator(pipeline: "p", temporality: temporality, expirySeconds: 86_400, source: MemorySeries(), table: table)
    var reader = try BucketReader(pipeline: pipeline, stream: try ClickHouseBufferedRows(bytes), window: window, planner: planner,
                                  admission: aggregator, table: table)
    var out: [String] = []
    while let bucket = try reader.next() {
        for p in try aggregator.points(of: bucket, metrics: pipeline.metrics, step: planner.step) {
            out.append("\((bucket.start - T) / minute) \(table.attributes[p.series]) \((Int64(p.start) - T) / minute) \(p.value)")
        }
        _ = aggregator.takeChanges()
    }
    return out
}

@Suite("SeriesTable: series by index")
struct SeriesTableTests {
    @Test("a table that forgets series between buckets reuses their indices without mixing series: the points are those of a table that keeps all")
    func reuse() throws {
        // 10 buckets; each has 6 series of its own and 2 that come back in every bucket.
        var rows: [(seconds: UInt32, provider: String, value: [UInt8])] = []
        for b in 0..<10 {
            let seconds = UInt32(T / second) + UInt32(b * 60)
            for s in 0..<6 { rows.append((seconds, "once-\(b)-\(s)", le(UInt64(b * 10 + s)))) }
            for s in 0..<2 { rows.append((seconds, "always-\(s)", le(UInt64(1 + s)))) }
        }
        let bytes = result(valueType: "UInt64", rows: rows)
        for temporality in [AggregationTemporality.cumulative, .delta] {
            let small = SeriesTable(capacity: 3)
            let forgetting = try points(bytes, try pipeline(), temporality: temporality, table: small)
            let keeping = try points(bytes, try pipeline(), temporality: temporality, table: SeriesTable())
            #expect(forgetting.count == 80)
            #expect(forgetting == keeping)
            if temporality == .cumulative {
                // Series with cumulative state keep their index: the running total of the last bucket.
                #expect(small.count == 62)
                #expect(forgetting.contains { $0.hasPrefix("9 ") && $0.contains("always-1") && $0.hasSuffix(" 0 int(20)") })
            } else {
                // Indices were reused: fewer than the 62 series the result names.
                #expect(small.count < 62)
                #expect(forgetting.contains { $0.hasPrefix("9 ") && $0.contains("always-1") && $0.hasSuffix(" 9 int(2)") })
            }
        }
    }

    @Test("a table that forgets series writes each point's attributes as a table that keeps all, byte for byte, its buffer of encodings compacted on the way",
          arguments: [OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON])
    func reuseEncodings(wire: OTLPExporterConfiguration.WireProtocol) throws {
        // 40 buckets, each with 2 series in every bucket and 6 of its own (long names: the
        // forgotten encodings pass the 64 KiB after which the buffer is compacted, several times).
        // A bucket's first row's series is kept when the table forgets the others: its encoding
        // is in use when the buffer is compacted, and moves (the first bucket's first series,
        // encoded before it, is gone by then).
        var rows: [(seconds: UInt32, provider: String, value: [UInt8])] = []
        for b in 0..<40 {
            let seconds = UInt32(T / second) + UInt32(b * 60)
            if b == 0 { rows.append((seconds, "first", le(UInt64(7)))) }
            for s in 0..<2 { rows.append((seconds, "always-\(s)", le(UInt64(1 + s)))) }
            for s in 0..<6 { rows.append((seconds, "once-\(b)-\(s)-" + String(repeating: "x", count: 1_000 + 37 * s), le(UInt64(b * 10 + s)))) }
        }
        let bytes = result(valueType: "UInt64", rows: rows)
        let pipeline = try pipeline()
        let headers = BucketPoints.headers(of: pipeline, temporality: .delta)
        let writer = try MetricRequestWriter(resource: [Attribute("service.name", .string("gateway"))],
                                             scope: InstrumentationScope(name: "otel-bridge", version: "1"), metrics: headers, wireProtocol: wire)
        /// Each bucket's request body: the table's encodings, and the points' attributes encoded as they are.
        func requests(_ table: SeriesTable) throws -> (table: [[UInt8]], plain: [[UInt8]]) {
            let aggregator = SeriesAggregator(pipeline: "p", temporality: .delta, expirySeconds: 86_400, source: MemorySeries(), table: table)
            var reader = try BucketReader(pipeline: pipeline, stream: try ClickHouseBufferedRows(bytes), window: window, planner: planner,
                                          admission: aggregator, table: table)
            var out: (table: [[UInt8]], plain: [[UInt8]]) = ([], [])
            while let bucket = try reader.next() {
                let points = try aggregator.points(of: bucket, metrics: pipeline.metrics, step: planner.step)
                let end = UInt64(bucket.start + planner.step)
                out.table.append(writer.assemble(writer.encode(points, series: table, end: end, pipeline: pipeline, budget: Int.max)))
                out.plain.append(writer.assemble(writer.encode(BucketPoints.grouped(points, series: table, end: end, pipeline: pipeline, headers: headers),
                                                               budget: Int.max)))
            }
            return out
        }
        let small = SeriesTable(capacity: 3)
        let forgetting = try requests(small)
        let keeping = try requests(SeriesTable())
        #expect(forgetting.table.count == 40)
        #expect(forgetting.table == forgetting.plain)
        #expect(forgetting.table == keeping.table)
        #expect(small.count < 40 * 6, "indices were reused")
    }

    @Test("values read from the row's bytes are the decoded ones", arguments: [
        ("UInt8", le(UInt8(200)), "int", Observation.int(200)),
        ("UInt16", le(UInt16(60_000)), "int", .int(60_000)),
        ("UInt32", le(UInt32(4_000_000_000)), "int", .int(4_000_000_000)),
        ("UInt64", le(UInt64(Int64.max)), "int", .int(Int64.max)),
        ("Int8", le(Int8(100)), "int", .int(100)),
        ("Int16", le(Int16(-300)), "int", .int(-300)),
        ("Int32", le(Int32(-70_000)), "int", .int(-70_000)),
        ("Int64", le(Int64.min), "int", .int(Int64.min)),
        ("Bool", [1], "int", .int(1)),
        ("UInt64", le(UInt64.max), "double", .double(Double(UInt64.max))),
        ("Int32", le(Int32(-5)), "double", .double(-5)),
        ("Float32", le(Float(1.5).bitPattern), "double", .double(1.5)),
        ("Float64", le((-0.25).bitPattern), "double", .double(-0.25)),
    ] as [(String, [UInt8], String, Observation)])
    func direct(type: String, value: [UInt8], valueType: String, expected: Observation) throws {
        let bytes = result(valueType: type, rows: [(UInt32(T / second), "openai", value)])
        let table = SeriesTable()
        let pipeline = try pipeline(valueType: valueType, monotonic: false)
        var reader = try BucketReader(pipeline: pipeline, stream: try ClickHouseBufferedRows(bytes), window: window, planner: planner,
                                      admission: LateAdmission(stored: [:], series: table), table: table)
        let bucket = try #require(try reader.next())
        #expect(bucket.start == T)
        #expect(bucket.observations.map(\.observation) == [expected])
        #expect(reader.binding.decodedColumns == [false, false, false], "read from the bytes, not decoded")
    }

    @Test("a value or bucket that fails a check read from the bytes fails with the decoded value's error", arguments: [
        ("Int64", le(Int64(-1)), "int", true, UInt32(T / second), "metric m.requests is monotonic but the value is negative (-1)"),
        ("UInt64", le(UInt64.max), "int", false, UInt32(T / second), "metric m.requests: value 18446744073709551615 does not fit in a 64-bit signed integer"),
        ("Float64", le(Double.infinity.bitPattern), "double", false, UInt32(T / second), "is not a finite number"),
        ("Float64", le((-1.0).bitPattern), "double", true, UInt32(T / second), "metric m.requests is monotonic but the value is negative (-1.0)"),
        ("UInt64", le(UInt64(1)), "int", true, UInt32(T / second) + 30, "is not aligned to the 60 s step"),
        ("UInt64", le(UInt64(1)), "int", true, UInt32(T / second) - 60, "lies outside the queried window"),
    ] as [(String, [UInt8], String, Bool, UInt32, String)])
    func directFailure(type: String, value: [UInt8], valueType: String, monotonic: Bool, seconds: UInt32, message: String) throws {
        let bytes = result(valueType: type, rows: [(seconds, "openai", value)])
        let table = SeriesTable()
        let pipeline = try pipeline(valueType: valueType, monotonic: monotonic)
        var reader = try BucketReader(pipeline: pipeline, stream: try ClickHouseBufferedRows(bytes), window: window, planner: planner,
                                      admission: LateAdmission(stored: [:], series: table), table: table)
        let error = try #require(captureError { () throws(BridgeError) in try reader.next() })
        #expect(error.description.contains("row 1: "))
        #expect(error.description.contains(message), "\(error.description)")
    }
}
