// `pipeline`: decode → map → encode in process, the pass's own code with no I/O around it.
//
//   swift run -c release otel-bridge-bench pipeline [--rows N] [--kind sum|histogram] [--temporality cumulative|delta]
//
// Writes a rollup result (1,000 series × rows/1,000 one-minute buckets, 5 String attributes, a
// UInt64 value or a 15-bucket histogram: the shape of scripts/bench_e2e.py) as
// RowBinaryWithNamesAndTypes bytes in memory, then reads it as a pass does: the decoder fed in
// 64 KiB chunks, BucketReader (checks, series, merge, admission), SeriesAggregator (temporality),
// MetricRequestWriter (points encoded once, a request assembled per 5,000 points). No network,
// no Postgres (cumulative state starts empty and is taken, not committed). Prints points/s.
import Checkpoints
import ClickHouse
import Foundation
import OTLP
import PipelineConfig
import Rollup

private struct NoStoredSeries: SeriesStateSource {
    func counts() throws -> [String: Int] { [:] }
    func load(metric: String, ids: [String]) throws -> [SeriesState] { [] }
    func ids(metric: String) throws -> Set<String> { [] }
}

/// RowBinaryWithNamesAndTypes of the bench result.
private func result(rows: Int, histogram: Bool, firstBucket: Int64) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(rows * (histogram ? 190 : 60))
    func varint(_ v: Int) {
        var v = UInt64(v)
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
    func string(_ s: String) { varint(s.utf8.count); out.append(contentsOf: s.utf8) }
    func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    let attributes = ["gen_ai.provider.name", "gen_ai.request.model", "portkey.workspace", "http.response.status_code", "portkey.cache_status"]
    let values = histogram ? ["cnt", "total", "lo", "hi", "buckets"] : ["value"]
    let types = histogram ? ["UInt64", "Float64", "Float64", "Float64", "Array(UInt64)"] : ["UInt64"]
    varint(1 + attributes.count + values.count)
    for name in ["bucket"] + attributes + values { string(name) }
    for type in ["DateTime('UTC')"] + Array(repeating: "String", count: attributes.count) + types { string(type) }
    let providers = ["openai", "anthropic", "google", "azure-openai", "bedrock", "mistral-ai", "groq", "x-ai"]
    let statuses = ["200", "429", "500", "503", "400"], cache = ["MISS", "HIT", "DISABLED"]
    for n in 0..<rows {
        let bucket = n / 1000, s = n % 1000
        le(UInt32(firstBucket / 1_000_000_000 + Int64(bucket) * 60))
        string(providers[s % 8]); string("model-\(s / 8 % 5)"); string("ws-\(s / 40 % 5)")
        string(statuses[s / 200 % 5]); string(cache[s % 3])
        let v = UInt64(n * 7919 % 1000 + 1)
        if histogram {
            le(v); le(Double(v).bitPattern); le((0.01).bitPattern); le((5.0).bitPattern)
            varint(15)
            for i in 0..<15 { le(i == Int(v % 15) ? v : UInt64(0)) }
        } else {
            le(v)
        }
    }
    return out
}

func pipelineBench() throws {
    let rows = Int(argument("--rows", default: "1000000"))!
    let histogram = argument("--kind", default: "sum") == "histogram"
    let temporality: AggregationTemporality = argument("--temporality", default: "cumulative") == "delta" ? .delta : .cumulative
    precondition(rows > 0 && rows % 1000 == 0, "--rows must be a multiple of 1,000")
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("otel-bridge-bench-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let metric = histogram ? """
              - metric_name: bench.duration
                unit: s
                data_type: histogram
                explicit_bounds: [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
                count_column: cnt
                sum_column: total
                min_column: lo
                max_column: hi
                bucket_counts_column: buckets
        """ : """
              - metric_name: bench.requests
                unit: "{request}"
                data_type: sum
                value_type: int
                monotonic: true
                value_column: value
        """
    try """
        SELECT * FROM t WHERE bucket >= {window_start:DateTime64(3, 'UTC')} AND bucket < {window_end:DateTime64(3, 'UTC')}
        """.write(to: dir.appendingPathComponent("bench.sql"), atomically: true, encoding: .utf8)
    try """
        defaults:
          step: 60s
          max_buckets_per_query: 100000
          max_points_per_request: 5000
        pipelines:
          - name: bench
            query: bench.sql
            metrics:
        \(metric)
                attribute_columns: [gen_ai.provider.name, gen_ai.request.model, portkey.workspace, http.response.status_code, portkey.cache_status]
        """.write(to: dir.appendingPathComponent("bench.yaml"), atomically: true, encoding: .utf8)
    let pipeline = try PipelineFile.load(path: dir.appendingPathComponent("bench.yaml").path)[0]
    let first: Int64 = 1_767_225_600_000_000_000
    let bytes = result(rows: rows, histogram: histogram, firstBucket: first)
    let window = TimeWindow(start: first, end: first + Int64(rows / 1000) * 60_000_000_000)
    let planner = WindowPlanner(stepSeconds: 60, lagSeconds: 0, maxBucketsPerQuery: 100_000)
    let writer = try MetricRequestWriter(
        resource: [Attribute("service.name", .string("otel-bridge"))], scope: InstrumentationScope(name: "otel-bridge", version: "bench"),
        metrics: BucketPoints.headers(of: pipeline, temporality: temporality), wireProtocol: .httpProtobuf)
    var points = 0, requestBytes = 0, requests = 0
    let seconds = try best(of: 3) {
        points = 0; requestBytes = 0; requests = 0
        let table = SeriesTable()
        let aggregator = SeriesAggregator(pipeline: "bench", temporality: temporality, expirySeconds: 86_400, source: NoStoredSeries(), table: table)
        var reader = try BucketReader(pipeline: pipeline, stream: try ClickHouseBufferedRows(bytes), window: window, planner: planner,
                                      admission: aggregator, table: table, digestsFrom: .max)
        var pending: [EncodedPoints] = []
        var pendingPoints = 0
        func flush() {
            requestBytes += writer.assemble(pending).count
            requests += 1
            pending.removeAll(keepingCapacity: true)
            pendingPoints = 0
        }
        while let bucket = try reader.next() {
            let emitted = try aggregator.points(of: bucket, metrics: pipeline.metrics, step: planner.step)
            let parts = writer.encode(emitted, series: table, end: UInt64(bucket.start + planner.step), pipeline: pipeline, budget: pipeline.maxRequestBytes - writer.overhead)
            let n = parts.reduce(0) { $0 + $1.pointCount }
            if pendingPoints > 0 && pendingPoints + n > pipeline.maxPointsPerRequest { flush() }
            pending += parts
            pendingPoints += n
            points += n
            _ = aggregator.takeChanges()
        }
        if pendingPoints > 0 { flush() }
    }
    precondition(points == rows, "\(points) points for \(rows) rows")
    print("decode → map → encode in process: \(rows) rows, \(histogram ? "15-bucket Histogram" : "Sum"), \(temporality), 5 String attributes, 1,000 series")
    print(String(format: "  result %.1f MiB; best of 3: %.3f s, %.0f points/s, %d requests, %.1f bytes/point, peak RSS %.0f MiB",
                 Double(bytes.count) / 1_048_576, seconds, Double(points) / seconds, requests, Double(requestBytes) / Double(points), peakRSSMiB()))
}
