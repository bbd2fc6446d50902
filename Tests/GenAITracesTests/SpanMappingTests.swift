import Testing
import ClickHouse
import OTLP
import Rollup
@testable import GenAITraces

@Suite struct SpanMappingTests {
    let mapping = SpanMapping()
    let t0: Int64 = 1_764_590_400_123_000_000  // 2025-12-01T12:00:00.123Z

    func row(_ edit: (inout GenAIRow) -> Void = { _ in }) -> GenAIRow {
        var r = GenAIRow(
            id: "0b6e2f4c-1d2a-4c3b-9e8f-0123456789ab", createdAt: t0, traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
            spanID: "00f067aa0ba902b7", parentSpanID: "", provider: "openai", model: "gpt-4o", inputTokens: 700, outputTokens: 220,
            costCents: 0.395, currency: "USD", status: 200, responseTimeMs: 1_234, cacheStatus: "MISS", stream: false,
            requestURL: "https://api.openai.com/v1/chat/completions", workspace: "prod", virtualKey: "openai-prod-key1")
        edit(&r)
        return r
    }

    func attrs(_ s: Span) -> [String: Attribute.Value] {
        Dictionary(s.attributes.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
    }

    @Test func aChatRequest() {
        let s = mapping.span(row())
        #expect(s.name == "chat gpt-4o")
        #expect(s.kind == .client)
        #expect(s.startTimeUnixNano == UInt64(t0))
        #expect(s.endTimeUnixNano == UInt64(t0) + 1_234_000_000)
        #expect(hexString(s.traceID) == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(hexString(s.spanID) == "00f067aa0ba902b7")
        #expect(s.parentSpanID.isEmpty)
        #expect(s.status == Span.Status())
        #expect(attrs(s) == [
            "gen_ai.operation.name": .string("chat"), "gen_ai.provider.name": .string("openai"),
            "gen_ai.request.model": .string("gpt-4o"), "gen_ai.usage.input_tokens": .int(700),
            "gen_ai.usage.output_tokens": .int(220), "server.address": .string("api.openai.com"),
            "http.response.status_code": .int(200), "portkey.id": .string("0b6e2f4c-1d2a-4c3b-9e8f-0123456789ab"),
            "portkey.workspace": .string("prod"), "portkey.cache_status": .string("MISS"), "portkey.cost": .double(0.00395),
            "portkey.currency": .string("USD"), "portkey.virtual_key": .string("openai-prod-key1"),
        ])
        #expect(s.attributes.count == attrs(s).count)  // no key twice
    }

    @Test func errorsStreamsPortsAndDeprecatedNames() {
        let s = SpanMapping(deprecatedAttributes: true).span(row {
            $0.status = 429; $0.stream = true; $0.outputTokens = 0; $0.requestURL = "http://gw.internal:8787/v1/chat/completions?x=1"
            $0.provider = "azure-openai"
        })
        let a = attrs(s)
        #expect(s.status.code == .error)
        #expect(a["error.type"] == .string("429"))
        #expect(a["http.response.status_code"] == .int(429))
        #expect(a["gen_ai.request.stream"] == .bool(true))
        #expect(a["gen_ai.usage.output_tokens"] == .int(0))
        #expect(a["server.address"] == .string("gw.internal"))
        #expect(a["server.port"] == .int(8787))
        #expect(a["gen_ai.provider.name"] == .string("azure.ai.openai"))
        #expect(a["gen_ai.system"] == .string("azure.ai.openai"))
        #expect(a["gen_ai.usage.prompt_tokens"] == .int(700))
        #expect(a["gen_ai.usage.completion_tokens"] == .int(0))
        #expect(attrs(mapping.span(row { $0.status = 399 }))["error.type"] == nil)
        #expect(attrs(mapping.span(row()))["gen_ai.system"] == nil)
        #expect(attrs(mapping.span(row { $0.requestURL = "https://x.example:443/v1/embeddings" }))["server.port"] == nil)
    }

    @Test(arguments: [
        ("https://api.openai.com/v1/chat/completions", "chat"),
        ("https://api.openai.com/v1/completions", "text_completion"),
        ("https://api.openai.com/v1/embeddings", "embeddings"),
        ("https://api.anthropic.com/v1/messages", "chat"),
        ("https://r.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=2024-06-01", "chat"),
        ("https://r.openai.azure.com/openai/deployments/ada/embeddings?api-version=2024-06-01", "embeddings"),
        ("https://r.openai.azure.com/openai/deployments/d/completions", "text_completion"),
        ("https://host/openai/v1/chat/completions", "chat"),
        ("https://api.groq.com/openai/v1/chat/completions/", "chat"),
        ("https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3/invoke", "generate_content"),
        ("https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke-with-response-stream", "generate_content"),
        ("https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse", "chat"),
        ("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent", "generate_content"),
        ("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", "generate_content"),
        ("https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/publishers/google/models/text-embedding-004:embedContent", "embeddings"),
        ("https://api.openai.com/v1/responses", "chat"),
        ("https://api.openai.com/v1/images/generations", "generate_content"),
        ("https://api.cohere.com/v1/rerank", "generate_content"),
        ("", "generate_content"),
        ("not a url", "generate_content"),
        ("https://", "generate_content"),
        ("/v1/chat/completions", "chat"),
        ("https://[::1]:8080/v1/messages", "chat"),
    ])
    func operationNames(url: String, operation: String) {
        let s = mapping.span(row { $0.requestURL = url })
        #expect(attrs(s)["gen_ai.operation.name"] == .string(operation))
        #expect(!operation.isEmpty)
    }

    @Test func providers() {
        let cases = [
            ("azure-openai", "azure.ai.openai"), ("bedrock", "aws.bedrock"), ("vertex-ai", "gcp.vertex_ai"), ("google", "gcp.gemini"),
            ("mistral-ai", "mistral_ai"), ("x-ai", "x_ai"), ("perplexity-ai", "perplexity"), ("openai", "openai"),
            ("anthropic", "anthropic"), ("groq", "groq"), ("cohere", "cohere"), ("deepseek", "deepseek"), ("some-new-one", "some-new-one"),
        ]
        for (slug, name) in cases {
            #expect(attrs(mapping.span(row { $0.provider = slug }))["gen_ai.provider.name"] == .string(name))
        }
        #expect(attrs(mapping.span(row { $0.provider = "" }))["gen_ai.provider.name"] == nil)
    }

    @Test func ids() {
        // Upper case: used, lower-cased.
        let upper = mapping.span(row { $0.traceID = "4BF92F3577B34DA6A3CE929D0E0E4736"; $0.spanID = "00F067AA0BA902B7"; $0.parentSpanID = "ABCDEF0123456789" })
        #expect(hexString(upper.traceID) == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(hexString(upper.spanID) == "00f067aa0ba902b7")
        #expect(hexString(upper.parentSpanID) == "abcdef0123456789")
        #expect(attrs(upper)["portkey.trace_id"] == nil)
        // Invalid (not hex, wrong length), all-zero: derived from the gateway's text, kept in portkey.trace_id.
        for bad in ["req_0123456789ab-zz", "4bf92f3577b34da6a3ce929d0e0e473", "00000000000000000000000000000000"] {
            let s = mapping.span(row { $0.traceID = bad; $0.spanID = "0000000000000000"; $0.parentSpanID = "xyz" })
            #expect(s.traceID.count == 16 && s.traceID.contains { $0 != 0 })
            #expect(s.spanID.count == 8 && s.spanID.contains { $0 != 0 })
            #expect(s.parentSpanID.isEmpty)
            #expect(attrs(s)["portkey.trace_id"] == .string(bad))
            #expect(s.traceID == SpanIDs.derive(bad, domain: "portkey.trace_id", count: 16))
            #expect(s.spanID == SpanIDs.derive(row().id, domain: "portkey.id.span", count: 8))
        }
        // Shared: two rows of one invalid gateway trace share one trace, with their own span ids.
        let a = mapping.span(row { $0.traceID = "req_shared"; $0.spanID = ""; $0.id = "11111111-1111-4111-8111-111111111111" })
        let b = mapping.span(row { $0.traceID = "req_shared"; $0.spanID = ""; $0.id = "22222222-2222-4222-8222-222222222222" })
        #expect(a.traceID == b.traceID)
        #expect(a.spanID != b.spanID)
        // Empty: derived from the row id; no portkey.trace_id.
        let e = mapping.span(row { $0.traceID = ""; $0.spanID = "" })
        #expect(e.traceID == SpanIDs.derive(row().id, domain: "portkey.id.trace", count: 16))
        #expect(attrs(e)["portkey.trace_id"] == nil)
        // Deterministic: the same row, the same span.
        #expect(mapping.span(row { $0.traceID = "" }) == mapping.span(row { $0.traceID = "" }))
        #expect(SpanIDs.derive("x", domain: "d", count: 16) != SpanIDs.derive("x", domain: "e", count: 16))
    }

    @Test func badRowsStillGiveValidSpans() {
        // Latency past a day: capped, the raw value kept.
        let absurd = mapping.span(row { $0.responseTimeMs = 4_000_000_000 })
        #expect(absurd.endTimeUnixNano - absurd.startTimeUnixNano == UInt64(SpanMapping.maxDurationMs) * 1_000_000)
        #expect(attrs(absurd)["portkey.response_time_ms"] == .int(4_000_000_000))
        // Negative: a zero-length span.
        let negative = mapping.span(row { $0.responseTimeMs = -5 })
        #expect(negative.endTimeUnixNano == negative.startTimeUnixNano)
        // Empty model: the operation alone; no gen_ai.request.model.
        let noModel = mapping.span(row { $0.model = "" })
        #expect(noModel.name == "chat")
        #expect(attrs(noModel)["gen_ai.request.model"] == nil)
        // Non-UTF-8 text arrives escaped by the decoder; it is carried as it is.
        let odd = mapping.span(row { $0.model = "gpt\\xff"; $0.workspace = "w\\xc3"; $0.provider = "pr\\x80v" })
        #expect(odd.name == "chat gpt\\xff")
        #expect(attrs(odd)["gen_ai.provider.name"] == .string("pr\\x80v"))
        // A URL that does not parse: no server.address, a fallback operation.
        for url in ["ht!tp://[oops/v1", "://", "https://exa mple.com/v1/embeddings", "https://[::1/v1/messages", "\u{0}"] {
            let s = mapping.span(row { $0.requestURL = url })
            #expect(attrs(s)["server.address"] == nil)
            #expect(attrs(s)["gen_ai.operation.name"] != nil)
        }
        // Status 0 (unknown): no status code, no error.
        let unknown = mapping.span(row { $0.status = 0 })
        #expect(attrs(unknown)["http.response.status_code"] == nil && unknown.status.code == .unset)
    }
}

@Suite struct SpanMetadataTests {
    @Test("the listed request metadata, read from the pairs column, is on the span after the other attributes")
    func metadata() throws {
        let columns = GenAIRowBinding.columns.map { ClickHouseColumn(name: $0.name, type: .string, typeName: "String") }
            + [ClickHouseColumn(name: "portkey.metadata", type: .array(.tuple([.string, .string])), typeName: "Array(Tuple(String, String))")]
        let binding = try GenAIRowBinding(columns: columns, pipeline: "gen_ai_traces", file: "q.sql")
        var values = [ClickHouseValue](repeating: .string(""), count: columns.count)
        values[0] = .string("0b6e2f4c-1d2a-4c3b-9e8f-0123456789ab")
        values[1] = .dateTime64(ticks: 1_764_590_400_123, precision: 3)
        for k in [7, 8, 11, 12, 14] { values[k] = .uint(0) }
        values[9] = .float(0)
        values[columns.count - 1] = .array([.tuple([.string("team"), .string("search")]), .tuple([.string("feature"), .string("")])])
        let row = try binding.row(values)
        #expect(row.metadata == [Attribute("portkey.metadata.team", .string("search"))])
        let span = SpanMapping().span(row)
        #expect(span.attributes.last == Attribute("portkey.metadata.team", .string("search")))

        // Without the column: no metadata, and the span is the one it always was.
        let plain = try GenAIRowBinding(columns: Array(columns.dropLast()), pipeline: "gen_ai_traces", file: "q.sql").row(Array(values.dropLast()))
        #expect(plain.metadata.isEmpty)
        #expect(SpanMapping().span(plain).attributes == Array(span.attributes.dropLast()))

        // A metadata column of another shape is a template error naming it.
        var bad = columns
        bad[bad.count - 1] = ClickHouseColumn(name: "portkey.metadata", type: .string, typeName: "String")
        #expect(throws: BridgeError.self) { try GenAIRowBinding(columns: bad, pipeline: "gen_ai_traces", file: "q.sql") }
    }
}
