// `traces`: rows → spans → bytes in process, the traces pass's own CPU with no I/O around it.
//
//   swift run -c release otel-bridge-bench traces [--rows N]
//
// Writes the result of `queries/gen_ai_traces.sql` (its columns and ClickHouse types, values
// shaped as scripts/bench_traces.py seeds them: ids of every shape, 8 providers and URLs, an
// error on 1 row in 25, no metadata pairs) as RowBinaryWithNamesAndTypes in memory, then reads it
// as the traces pass does: the decoder fed in 64 KiB chunks, each row bound
// (`GenAIRowBinding`), mapped (`SpanMapping.span`) and encoded (`SpanRequestWriter.encode`), and
// the encoded spans assembled into a request per 2,000. Prints spans/s (and spans per CPU-second
// of the thread) for each way: the decoded values bound, the row's bytes bound
// (`GenAIRowBinding.row(RawRow)`), and those encoded without a Span (`SpanEncoder`), best of
// three; all must write the same bytes.
import ClickHouse
import Foundation
import GenAITraces
import OTLP

/// RowBinaryWithNamesAndTypes of the traces query's result, `rows` rows.
private func tracesResult(rows: Int) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(rows * 330)
    func varint(_ v: Int) {
        var v = UInt64(v)
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
    func string(_ s: String) { varint(s.utf8.count); out.append(contentsOf: s.utf8) }
    func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
    let columns: [(String, String)] = [
        ("id", "UUID"), ("created_at", "DateTime64(3, 'UTC')"), ("trace_id", "String"), ("span_id", "String"), ("parent_span_id", "String"),
        ("ai_org", "LowCardinality(String)"), ("ai_model", "LowCardinality(String)"), ("req_units", "UInt32"), ("res_units", "UInt32"),
        ("cost", "Float64"), ("cost_currency", "LowCardinality(String)"), ("response_status_code", "UInt16"), ("response_time", "UInt32"),
        ("cache_status", "LowCardinality(String)"), ("stream_mode", "UInt8"), ("request_url", "String"), ("workspace_slug", "LowCardinality(String)"),
        ("virtual_key", "String"), ("portkey.metadata", "Array(Tuple(String, String))"),
    ]
    varint(columns.count)
    for (name, _) in columns { string(name) }
    for (_, type) in columns { string(type) }
    let providers = ["openai", "anthropic", "google", "azure-openai", "bedrock", "mistral-ai", "groq", "x-ai"]
    let models = ["gpt-4o", "claude-sonnet-4", "gemini-2.5-pro", "gpt-4o-mini", "claude-haiku", "mistral-large", "llama-3", "grok-3"]
    let urls = ["https://api.openai.com/v1/chat/completions", "https://api.anthropic.com/v1/messages",
                "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent",
                "https://r.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=2024-06-01",
                "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke", "https://api.mistral.ai/v1/chat/completions",
                "https://api.groq.com/openai/v1/chat/completions", "https://api.x.ai/v1/chat/completions"]
    let workspaces = ["prod", "staging", "research"], cache = ["MISS", "HIT", "DISABLED"]
    var state: UInt64 = 42
    func random() -> UInt64 {  // SplitMix64: the same result on every run
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    let digits = Array("0123456789abcdef".utf8)
    func hex(_ bytes: Int) -> String {
        var v = random()
        return String(decoding: (0..<2 * bytes).map { i in
            if i == 16 { v = random() }
            defer { v >>= 4 }
            return digits[Int(v & 0xF)]
        }, as: UTF8.self)
    }
    let first: Int64 = 1_767_225_600_000  // 2026-01-01, milliseconds
    for n in 0..<rows {
        le(random()); le(random())
        le(first + Int64(n) * 10)
        string(n % 10 < 8 ? hex(16) : n % 10 == 8 ? "" : "req_\(n % 1000)")
        string(hex(8))
        string(n % 3 == 0 ? hex(8) : "")
        string(providers[n % 8]); string(models[n % 8])
        le(UInt32(n % 2000)); le(UInt32(n % 700))
        le((Double(n % 1000) / 7).bitPattern)
        string("USD")
        le(UInt16(n % 25 == 0 ? 429 : 200))
        le(UInt32(n % 30000 + 20))
        string(cache[n % 3])
        le(UInt8(n % 2))
        string(urls[n % 8])
        string(workspaces[n % 3])
        string("vk-\(n % 50)")
        varint(0)
    }
    return out
}

/// The CPU time of the calling thread: the figure that the machine's other load distorts least.
private func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func tracesBench() throws {
    let rows = Int(argument("--rows", default: "200000"))!
    let bytes = tracesResult(rows: rows)
    let mapping = SpanMapping()
    let writer = try SpanRequestWriter(resource: [Attribute("service.name", .string("otel-bridge"))],
                                       scope: InstrumentationScope(name: "otel-bridge", version: "bench"), wireProtocol: .httpProtobuf)
    let perRequest = 2000

    /// Runs `read` over the whole result; returns the request bytes and a checksum of them.
    func measure(_ label: String, _ read: (ClickHouseBufferedRows, GenAIRowBinding, (EncodedSpan) -> Void) throws -> Void) throws -> (Int, UInt64) {
        var total = 0, spans = 0
        var checksum: UInt64 = 0xcbf2_9ce4_8422_2325
        var cpu = Double.infinity
        var run = 0
        let seconds = try best(of: 3) {
            run += 1
            let cpuStart = threadCPUSeconds()
            defer { cpu = min(cpu, threadCPUSeconds() - cpuStart) }
            total = 0; spans = 0
            let stream = try ClickHouseBufferedRows(bytes)
            let binding = try GenAIRowBinding(columns: stream.columns, pipeline: "gen_ai_traces", file: "bench")
            var pending: [EncodedSpan] = []
            pending.reserveCapacity(perRequest)
            func flush() {
                let body = writer.assemble(pending)
                total += body.count
                if run == 1 { for b in body { checksum = (checksum ^ UInt64(b)) &* 0x0000_0100_0000_01b3 } }  // not in the best time
                pending.removeAll(keepingCapacity: true)
            }
            try read(stream, binding) { span in
                pending.append(span)
                spans += 1
                if pending.count == perRequest { flush() }
            }
            if !pending.isEmpty { flush() }
        }
        precondition(spans == rows, "\(spans) spans for \(rows) rows")
        print(String(format: "  %@ %.3f s, %.0f spans/s; CPU %.3f s, %.0f spans per CPU-second", pad(label + ":", 46), seconds,
                     Double(rows) / seconds, cpu, Double(rows) / cpu))
        return (total, checksum)
    }

    print("rows → spans → requests in process: \(rows) rows of queries/gen_ai_traces.sql's result (\(String(format: "%.1f", Double(bytes.count) / 1_048_576)) MiB), requests of \(perRequest) spans, best of 3")
    let values = try measure("values: row(values) → span(row) → encode") { stream, binding, emit in
        var values: [ClickHouseValue] = []
        while try stream.next(into: &values) {
            emit(try writer.encode(mapping.span(try binding.row(values))))
        }
    }
    let raw = try measure("bytes: row(raw) → span(row) → encode") { stream, binding, emit in
        var unused: [ClickHouseValue] = []
        var raw = RawRow()
        while try stream.next(into: &unused, raw: &raw, decode: binding.decode) {
            emit(try writer.encode(mapping.span(try binding.row(raw))))
        }
    }
    let encoded = try measure("bytes: row(raw) → SpanEncoder.encode(row)") { stream, binding, emit in
        var unused: [ClickHouseValue] = []
        var raw = RawRow()
        var encoder = SpanEncoder(mapping: mapping, writer: writer)
        while try stream.next(into: &unused, raw: &raw, decode: binding.decode) {
            emit(try encoder.encode(try binding.row(raw)))
        }
    }
    precondition(raw == values && encoded == values, "the ways wrote different requests")
    print(String(format: "  request bytes: %.1f per span; peak RSS %.0f MiB", Double(values.0) / Double(rows), peakRSSMiB()))
}
