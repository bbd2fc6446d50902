// otel-bridge-bench: figures for design decisions. Run in release mode:
//
//   swift run -c release otel-bridge-bench formats  --clickhouse URL [--rows N]
//   swift run -c release otel-bridge-bench encode   [--points N] [--batch N]
//   swift run -c release otel-bridge-bench spans    [--spans N]
//   swift run -c release otel-bridge-bench traces   [--rows N]
//
// `formats` fetches one rollup-shaped result (bucket, provider, model, status, count, cost, an
// array of bucket counts) in three ClickHouse output formats and reports bytes on the wire
// (uncompressed) and the client's decode rate from memory, best of three.
// `encode` measures the OTLP encoding seam: Sum points per second through
// SwiftProtobufMetricsEncoder, batch by batch, then through MetricRequestWriter's BucketWriter
// as the pass uses it (attributes encoded once per series), and the peak resident memory.
// `spans` measures span encoding: spans shaped like the GenAI traces pipeline's (ids, 17
// attributes of every value type, an error status on some) per second through swift-protobuf
// (SpanRequestWriter.referenceProtobufField) and through SpanRequestWriter.encode, best of three.
import ClickHouse
import CurlHTTP
import Foundation
import OTLP
import UTCTime

func argument(_ name: String, default value: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    return value
}

func best(of n: Int, _ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0..<n {
        let start = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - start
        best = min(best, d.inSeconds)
    }
    return best
}

func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb / 1024
}

func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }

// MARK: - formats

func formats() throws {
    let url = argument("--clickhouse", default: ProcessInfo.processInfo.environment["TEST_CLICKHOUSE_URL"] ?? "http://127.0.0.1:8123")
    let rows = Int(argument("--rows", default: "200000"))!
    let sql = """
        SELECT toDateTime(1767225600 + intDiv(number, 200) * 60, 'UTC') AS bucket,
               ['openai', 'anthropic', 'google', 'mistral'][number % 4 + 1] AS provider,
               concat('model-', toString(number % 13)) AS model,
               toUInt16([200, 200, 200, 429, 500][number % 5 + 1]) AS status,
               toUInt64(number % 1000) AS requests,
               number / 7 AS cost,
               [toUInt64(number % 3), toUInt64(number % 5), toUInt64(1)] AS buckets
        FROM numbers(\(rows))
        """
    let http = HTTPClient()
    func fetch(_ format: String) throws -> [UInt8] {
        let q = URLEncoding.query([("default_format", format)])
        return try http.perform(HTTPRequest(method: .post, url: url + "/?" + q, body: Array(sql.utf8), timeout: .seconds(120)), maxBodyBytes: 1 << 30).body
    }
    print("result: \(rows) rows of (DateTime, String, String, UInt16, UInt64, Float64, Array(UInt64))")
    print(pad("format", 32) + pad("bytes", 12) + pad("bytes/row", 11) + pad("decode s", 10) + "rows/s")

    // RowBinaryWithNamesAndTypes: the bridge's decoder.
    let binary = try fetch("RowBinaryWithNamesAndTypes")
    var checksum: UInt64 = 0
    let tBinary = try best(of: 3) {
        var decoder = RowBinaryDecoder()
        var row: [ClickHouseValue] = []
        var n = 0
        var offset = 0
        while offset < binary.count {  // feed in 64 KiB chunks, as the network does
            decoder.feed(binary[offset..<min(offset + 65_536, binary.count)])
            offset += 65_536
            _ = try decoder.decodeHeader()
            while try decoder.decodeRow(into: &row, rowNumber: n + 1) {
                n += 1
                if case .uint(let v) = row[4] { checksum &+= v }
            }
        }
        precondition(n == rows)
    }
    print(pad("RowBinaryWithNamesAndTypes", 32) + pad("\(binary.count)", 12) + pad(String(format: "%.1f", Double(binary.count) / Double(rows)), 11)
          + pad(String(format: "%.3f", tBinary), 10) + String(format: "%.0f", Double(rows) / tBinary))

    // TabSeparatedWithNamesAndTypes: a minimal typed parser (split, unescape, parse numbers).
    let tsv = try fetch("TabSeparatedWithNamesAndTypes")
    let tTSV = best(of: 3) {
        var n = 0
        var field: [UInt8] = []
        var fields: [String] = []
        var line = 0
        func finishRow() {
            if line >= 2 {
                _ = fields[0]  // bucket text
                checksum &+= UInt64(fields[4]) ?? 0
                _ = UInt16(fields[3]); _ = Double(fields[5])
                _ = fields[6].dropFirst().dropLast().split(separator: ",").map { UInt64($0) }
                n += 1
            }
            line += 1
            fields.removeAll(keepingCapacity: true)
        }
        var i = 0
        while i < tsv.count {
            let b = tsv[i]
            if b == 0x5C, i + 1 < tsv.count {  // backslash escape
                i += 1
                switch tsv[i] { case UInt8(ascii: "t"): field.append(9); case UInt8(ascii: "n"): field.append(10); default: field.append(tsv[i]) }
            } else if b == 0x09 {
                fields.append(String(decoding: field, as: UTF8.self)); field.removeAll(keepingCapacity: true)
            } else if b == 0x0A {
                fields.append(String(decoding: field, as: UTF8.self)); field.removeAll(keepingCapacity: true)
                finishRow()
            } else {
                field.append(b)
            }
            i += 1
        }
        precondition(n == rows)
    }
    print(pad("TabSeparatedWithNamesAndTypes", 32) + pad("\(tsv.count)", 12) + pad(String(format: "%.1f", Double(tsv.count) / Double(rows)), 11)
          + pad(String(format: "%.3f", tTSV), 10) + String(format: "%.0f", Double(rows) / tTSV))

    // JSONEachRow: Foundation's JSONSerialization per line (UInt64 arrives as a string).
    let json = try fetch("JSONEachRow")
    let tJSON = try best(of: 3) {
        var n = 0
        var start = 0
        for i in 0..<json.count where json[i] == 0x0A {
            let object = try JSONSerialization.jsonObject(with: Data(json[start..<i])) as! [String: Any]
            checksum &+= UInt64(object["requests"] as? String ?? "") ?? UInt64((object["requests"] as? NSNumber)?.uint64Value ?? 0)
            n += 1
            start = i + 1
        }
        precondition(n == rows)
    }
    print(pad("JSONEachRow", 32) + pad("\(json.count)", 12) + pad(String(format: "%.1f", Double(json.count) / Double(rows)), 11)
          + pad(String(format: "%.3f", tJSON), 10) + String(format: "%.0f", Double(rows) / tJSON))
    print("(checksum \(checksum))")
}

// MARK: - encode

func encode() throws {
    let total = Int(argument("--points", default: "1000000"))!
    let batchSize = Int(argument("--batch", default: "5000"))!
    let providers = ["openai", "anthropic", "google", "mistral"]
    let resource = [Attribute("service.name", .string("otel-bridge"))]
    let scope = InstrumentationScope(name: "otel-bridge", version: "bench")
    let header = Metric(name: "portkey.requests", description: "", unit: "{request}", data: .sum(isMonotonic: true, temporality: .delta, points: []))
    func points(from made: Int, count n: Int) -> [NumberPoint] {
        (0..<n).map { i in
            let k = made + i
            return NumberPoint(
                attributes: [Attribute("gen_ai.provider.name", .string(providers[k % 4])),
                             Attribute("gen_ai.request.model", .string("model-\(k % 13)")),
                             Attribute("http.response.status_code", .int(Int64(200 + k % 3)))],
                startTimeUnixNano: 1_767_225_600_000_000_000, timeUnixNano: 1_767_225_660_000_000_000, value: .int(Int64(k)))
        }
    }
    // The reference: a whole batch mapped onto swift-protobuf's types and serialized.
    let reference = SwiftProtobufMetricsEncoder()
    var bytes = 0
    let seconds = try best(of: 1) {
        var made = 0
        while made < total {
            let n = min(batchSize, total - made)
            var metric = header
            metric.data = .sum(isMonotonic: true, temporality: .delta, points: points(from: made, count: n))
            bytes += try reference.encode(MetricBatch(resource: resource, scope: scope, metrics: [metric]), as: .httpProtobuf).count
            made += n
        }
    }
    print("SwiftProtobufMetricsEncoder: \(total) Sum points (3 attributes) in batches of \(batchSize)")
    print(String(format: "  %.2f s, %.0f points/s, %.1f bytes/point, peak RSS %.0f MiB", seconds, Double(total) / seconds,
                 Double(bytes) / Double(total), peakRSSMiB()))
    // What the pass does: 1,000 series, each with its 5 attributes encoded once; each batch's
    // points written straight into a BucketWriter, the request assembled by copying.
    let writer = try MetricRequestWriter(resource: resource, scope: scope, metrics: [header], wireProtocol: .httpProtobuf)
    let series = (0..<1_000).map { s in
        writer.encodedAttributes([
            Attribute("gen_ai.provider.name", .string(providers[s % 4])),
            Attribute("gen_ai.request.model", .string("model-\(s % 13)")),
            Attribute("portkey.workspace", .string("workspace-\(s % 17)")),
            Attribute("http.response.status_code", .string(["200", "429", "500"][s % 3])),
            Attribute("portkey.cache.status", .string(["HIT", "MISS", "DISABLED"][s % 3])),
        ], metric: 0)
    }
    func measureWriter(_ label: String) {
        var written = 0
        let seconds = best(of: 3) {
            written = 0
            var made = 0
            while made < total {
                let n = min(batchSize, total - made)
                var bucket = writer.bucket(budget: .max)
                for k in made..<(made + n) {
                    bucket.number(metric: 0, attributes: series[k % series.count], start: 1_767_225_600_000_000_000,
                                  end: 1_767_225_660_000_000_000, value: .int(Int64(k)))
                }
                written += writer.assemble(bucket.finish()).count
                made += n
            }
        }
        print("MetricRequestWriter: BucketWriter, 1,000 series with 5 string attributes encoded once, best of 3, \(label)")
        print(String(format: "  %.3f s, %.0f points/s, %.1f bytes/point, peak RSS %.0f MiB", seconds, Double(total) / seconds,
                     Double(written) / Double(total), peakRSSMiB()))
    }
    // Mind the allocator: a stray megabyte-sized allocation per batch is enough for glibc to hand
    // memory back to the kernel and fault fresh pages in for the next batch, which costs several
    // times the encoding (`perf stat -e page-faults`; MALLOC_TRIM_THRESHOLD_=1073741824 rules it out).
    measureWriter("after the reference")
}

// MARK: - spans

func spans() throws {
    let total = Int(argument("--spans", default: "200000"))!
    let providers = ["openai", "anthropic", "google", "azure-openai"]
    // Made up front: the figure is the encoder's, not the making of spans.
    let spans = (0..<total).map { k in
        let attributes: [Attribute] = [
            Attribute("gen_ai.operation.name", .string("chat")), Attribute("gen_ai.provider.name", .string(providers[k % 4])),
            Attribute("gen_ai.request.model", .string("model-\(k % 13)")), Attribute("gen_ai.usage.input_tokens", .int(Int64(k % 2000))),
            Attribute("gen_ai.usage.output_tokens", .int(Int64(k % 700))), Attribute("gen_ai.request.stream", .bool(k % 2 == 0)),
            Attribute("server.address", .string("api.openai.com")), Attribute("http.response.status_code", .int(k % 25 == 0 ? 429 : 200)),
            Attribute("gen_ai.system", .string(providers[k % 4])), Attribute("gen_ai.usage.prompt_tokens", .int(Int64(k % 2000))),
            Attribute("gen_ai.usage.completion_tokens", .int(Int64(k % 700))), Attribute("portkey.id", .string("4f1c2a9e-\(k)-8b2d-1e5f6a7b8c9d")),
            Attribute("portkey.workspace", .string("prod")), Attribute("portkey.cache_status", .string("MISS")),
            Attribute("portkey.cost", .double(Double(k % 1000) / 7)), Attribute("portkey.currency", .string("USD")),
            Attribute("portkey.virtual_key", .string("vk-\(k % 50)")),
        ]
        return Span(traceID: (0..<16).map { UInt8(truncatingIfNeeded: k &* 31 &+ $0) }, spanID: (0..<8).map { UInt8(truncatingIfNeeded: k &+ $0 &+ 1) },
                    parentSpanID: k % 3 == 0 ? (0..<8).map { UInt8(truncatingIfNeeded: k &+ $0 &+ 7) } : [], name: "chat model-\(k % 13)",
                    kind: .client, startTimeUnixNano: 1_767_225_600_000_000_000 + UInt64(k) * 10_000_000,
                    endTimeUnixNano: 1_767_225_600_000_000_000 + UInt64(k) * 10_000_000 + 400_000_000, attributes: attributes,
                    status: k % 25 == 0 ? Span.Status(code: .error) : Span.Status())
    }
    let writer = try SpanRequestWriter(resource: [Attribute("service.name", .string("otel-bridge"))],
                                       scope: InstrumentationScope(name: "otel-bridge", version: "bench"), wireProtocol: .httpProtobuf)
    var bytes = 0
    let reference = try best(of: 3) {
        bytes = 0
        for span in spans { bytes += try SpanRequestWriter.referenceProtobufField(span).count }
    }
    var written = 0
    let direct = try best(of: 3) {
        written = 0
        for span in spans { written += try writer.encode(span).bytes.count }
    }
    precondition(bytes == written, "the two encoders wrote different sizes")
    print("span encoding: \(total) GenAI-shaped spans (17 attributes), \(String(format: "%.1f", Double(bytes) / Double(total))) bytes/span, best of 3")
    print(String(format: "  swift-protobuf:            %.3f s, %.0f spans/s", reference, Double(total) / reference))
    print(String(format: "  SpanRequestWriter.encode:  %.3f s, %.0f spans/s (%.1f×)", direct, Double(total) / direct, reference / direct))
}

switch CommandLine.arguments.dropFirst().first {
case "spans": try spans()
case "traces": try tracesBench()
case "formats": try formats()
case "encode": try encode()
case "pipeline": try pipelineBench()
default:
    print("usage: otel-bridge-bench formats --clickhouse URL [--rows N] | encode [--points N] [--batch N] | spans [--spans N] | traces [--rows N]")
    exit(2)
}
