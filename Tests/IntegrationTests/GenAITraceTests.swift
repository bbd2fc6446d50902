import Bridge
import Commands
import Observability
import Service
import Checkpoints
import ClickHouse
import Foundation
import GenAITraces
import OTLP
import Postgres
import Testing
import TestSupport

/// The GenAI traces pipeline end to end: gateway rows in ClickHouse, the real bridge, the
/// receiver's recorded spans compared with what this test computes from each raw row.
@Suite("GenAI traces end to end", .serialized)
struct GenAITraceTests {
    static let start = "2026-11-01T10:00:00Z"
    static let end = "2026-11-01T10:30:00Z"
    /// The millisecond many rows share (with every shape of gateway id).
    static let crowded = "2026-11-01 10:20:00.500"

    func environment(_ s: Scenario, pageSize: Int = 7, spansPerRequest: Int = 5, push: Bool = false, extra: [String: String] = [:]) -> [String: String] {
        s.environment(startAt: Self.start, extra: [
            "OTEL_PUSH_ENABLED": push ? "true" : "false",
            "OTEL_SERVICE_NAME": "genai-it",
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true",
            "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": Receiver.tracesBase(scope: s.receiverScope),
            "EXPERIMENTAL_GEN_AI_OTEL_RESOURCE_ATTRIBUTES": "test.id=\(s.id),deployment.environment=it",
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE": String(pageSize),
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_MAX_SPANS_PER_REQUEST": String(spansPerRequest),
        ].merging(extra) { $1 })
    }

    /// Generated traffic, plus 42 rows in one millisecond with every id shape, plus bad rows.
    func seed(_ s: Scenario) throws {
        try s.seed(start: Self.start, end: Self.end, seed: 23, ratePerMinute: 20)
        let valid = "4bf92f3577b34da6a3ce929d0e0e4736", span = "00f067aa0ba902b7"
        let traceShapes = [valid, valid.uppercased(), "req_shared_trace", "4bf92f3577b34da6a3ce929d0e0e47zz", String(repeating: "0", count: 32), ""]
        let spanShapes = [span, span.uppercased(), "0000000000000000", "nothex!!nothex!!", "", "abc"]
        var lines: [String] = []
        for i in 0..<42 {
            let row: [String: Any] = [
                "id": UUID().uuidString.lowercased(), "created_at": Self.crowded, "organisation_id": "org", "workspace_slug": "prod",
                "trace_id": traceShapes[i % 6], "span_id": spanShapes[(i / 6) % 6], "parent_span_id": i % 4 == 0 ? "ABCDEF0123456789" : (i % 4 == 1 ? "0000000000000000" : ""),
                "ai_org": ["azure-openai", "bedrock", "vertex-ai", "x-ai", "brand-new-ai", "perplexity-ai"][i % 6],
                "ai_model": i % 7 == 0 ? "" : "model-\(i % 3)", "req_units": i, "res_units": i % 5 == 0 ? 0 : 3 * i,
                "total_units": 4 * i, "cost": Double(i) * 0.37, "cost_currency": "USD",
                "response_status_code": [200, 429, 500, 200, 401, 0][i % 6], "is_success": 1,
                "response_time": [1, 250, 0, 4_294_967_295, 30_000, 7][i % 6], "cache_status": i % 3 == 0 ? "HIT" : "",
                "stream_mode": i % 2, "request_url": [
                    "https://r.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=2024-06-01",
                    "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3/invoke",
                    "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/publishers/google/models/gemini:generateContent",
                    "http://gateway.internal:8787/v1/embeddings", "::not a url::", "https://api.perplexity.ai/chat/completions",
                ][i % 6],
                "virtual_key": i % 2 == 0 ? "vk-\(i % 3)" : "", "_user": "", "mode": "single",
            ]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: row), as: UTF8.self))
        }
        try s.clickhouse.execute("INSERT INTO \(s.database).generations FORMAT JSONEachRow", data: Array(lines.joined(separator: "\n").utf8))
        // Bytes that are not UTF-8, in the model, the workspace and the URL.
        try s.clickhouse.execute("""
            INSERT INTO \(s.database).generations (id, created_at, ai_org, ai_model, workspace_slug, request_url, response_status_code, response_time)
            SELECT generateUUIDv4(), toDateTime64('2026-11-01 10:25:00.000', 3, 'UTC'), 'openai', unhex('6770ff742d34'), unhex('77c3'),
                   concat('https://api.openai.com/v1/', unhex('fe'), '/chat/completions'), 200, 10
            """)
    }

    /// Every raw row, as the test's own computation of its span.
    func expectedSpans(_ s: Scenario) throws -> [String: ReceivedSpan] {
        let rows = try readAll(s.clickhouse.query("""
            SELECT id, created_at, trace_id, span_id, parent_span_id, ai_org, ai_model, req_units, res_units, cost, cost_currency,
                   response_status_code, response_time, cache_status, stream_mode, request_url, workspace_slug, virtual_key
            FROM \(s.database).generations
            """))
        var out: [String: ReceivedSpan] = [:]
        for r in rows {
            let id = r[0].text!, created = r[1].unixNanoseconds!, traceText = r[2].text!, spanText = r[3].text!, parentText = r[4].text!
            let slug = r[5].text!, model = r[6].text!, url = r[15].text!, status = r[11].int64!, latency = r[12].int64!
            func valid(_ t: String, _ n: Int) -> String? {
                let l = t.lowercased()
                guard l.count == n, l.allSatisfy(\.isHexDigit), l.contains(where: { $0 != "0" }) else { return nil }
                return l
            }
            func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
            // The generator's URLs have their answers written out in Expectations; this test's own rows here.
            let shape = Expectations.requestShape(url)
            let op: String
            if let shape { op = shape.operation }
            else if url.hasSuffix("/chat/completions") || url.contains("/chat/completions?") || url.hasSuffix("/messages") { op = "chat" }
            else if url.hasSuffix("/embeddings") { op = "embeddings" }
            else { op = "generate_content" }  // :generateContent, Bedrock's invoke, a URL that does not parse
            let provider = [
                "azure-openai": "azure.ai.openai", "bedrock": "aws.bedrock", "vertex-ai": "gcp.vertex_ai", "google": "gcp.gemini",
                "mistral-ai": "mistral_ai", "x-ai": "x_ai", "perplexity-ai": "perplexity",
            ][slug] ?? slug
            var a: [String: ReceivedSpan.Value] = [
                "gen_ai.operation.name": .string(op), "gen_ai.usage.input_tokens": .int(r[7].int64!),
                "gen_ai.usage.output_tokens": .int(r[8].int64!), "portkey.id": .string(id),
                "portkey.cost": .double((r[9].double! / 100 * 1e9).rounded() / 1e9),
            ]
            if !provider.isEmpty { a["gen_ai.provider.name"] = .string(provider) }
            if !model.isEmpty { a["gen_ai.request.model"] = .string(model) }
            if r[14].int64! != 0 { a["gen_ai.request.stream"] = .bool(true) }
            if let shape {
                if let address = shape.address { a["server.address"] = .string(address) }
                if let port = shape.port { a["server.port"] = .int(port) }
            } else {
                if url.hasPrefix("https://"), let host = url.dropFirst(8).split(separator: "/").first { a["server.address"] = .string(String(host)) }
                if url.hasPrefix("http://gateway.internal:8787/") { a["server.address"] = .string("gateway.internal"); a["server.port"] = .int(8787) }
            }
            if status != 0 { a["http.response.status_code"] = .int(status) }
            if status >= 400 { a["error.type"] = .string(String(status)) }
            for (k, i) in [("portkey.currency", 10), ("portkey.cache_status", 13), ("portkey.workspace", 16), ("portkey.virtual_key", 17)] where !r[i].text!.isEmpty {
                a[k] = .string(r[i].text!)
            }
            let traceID: String
            if let v = valid(traceText, 32) { traceID = v }
            else if !traceText.isEmpty { traceID = hex(SpanIDs.derive(traceText, domain: "portkey.trace_id", count: 16)); a["portkey.trace_id"] = .string(traceText) }
            else { traceID = hex(SpanIDs.derive(id, domain: "portkey.id.trace", count: 16)) }
            let duration = min(latency, 86_400_000)
            if latency > 86_400_000 { a["portkey.response_time_ms"] = .int(latency) }
            out[id] = ReceivedSpan(
                traceID: traceID, spanID: valid(spanText, 16) ?? hex(SpanIDs.derive(id, domain: "portkey.id.span", count: 8)),
                parentSpanID: valid(parentText, 16) ?? "", name: model.isEmpty ? op : "\(op) \(model)", kind: "SPAN_KIND_CLIENT",
                start: created, end: created + duration * 1_000_000, attributes: a, statusCode: status >= 400 ? "STATUS_CODE_ERROR" : "",
                resource: ["service.name": "genai-it", "test.id": s.id, "deployment.environment": "it"])
        }
        return out
    }

    func keyset(_ s: Scenario) throws -> (String, String?) {
        let row = try s.store().connection.query(
            "SELECT to_char(watermark AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS w, watermark_id FROM otel_bridge.checkpoints WHERE pipeline = 'gen_ai_traces'", [])
        return (try row.first!.string("w"), try row.first!.optionalString("watermark_id"))
    }

    @Test("gen_ai_latest_experimental: every span equal to the row's, without the deprecated names even when asked for")
    func latestConventionSpans() throws {
        let s = try Scenario()
        try seed(s)
        let expected = try expectedSpans(s)
        let bridge = try s.bridge(environment(s, pageSize: 500, spansPerRequest: 500, extra: [
            "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental", "EXPERIMENTAL_GEN_AI_OTEL_TRACES_DEPRECATED_ATTRIBUTES": "true",
        ]), now: ns("2026-11-01T12:00:00Z"))
        let first = try bridge.run()
        #expect(first.first?.status == .ok, "\(first.first?.error ?? "")")
        let received = try Receiver.spans(scope: s.receiverScope)
        #expect(received.count == expected.count)
        for span in received {
            guard case .string(let id)? = span.attributes["portkey.id"] else { Issue.record("no portkey.id: \(span)"); continue }
            #expect(span.content == expected[id], "row \(id)")
            #expect(span.attributes["gen_ai.system"] == nil && span.attributes["gen_ai.usage.prompt_tokens"] == nil)
        }
    }

    @Test("every row is one span equal to the row's; equal timestamps across pages; a second run sends nothing")
    func spansEqualRows() throws {
        let s = try Scenario()
        try seed(s)
        let expected = try expectedSpans(s)
        let bridge = try s.bridge(environment(s), now: ns("2026-11-01T12:00:00Z"))
        let first = try bridge.run()
        #expect(first.map(\.pipeline) == ["gen_ai_traces"])
        #expect(first.first?.status == .ok, "\(first.first?.error ?? "")")
        #expect(first.first?.pointsExported == Int64(expected.count))
        let received = try Receiver.spans(scope: s.receiverScope)
        #expect(received.allSatisfy { $0.accepted })
        #expect(received.count == expected.count, "received \(received.count) spans for \(expected.count) rows")
        var seen = Set<String>()
        for span in received {
            guard case .string(let id)? = span.attributes["portkey.id"] else { Issue.record("no portkey.id: \(span)"); continue }
            #expect(seen.insert(id).inserted, "row \(id) sent twice")
            #expect(span.content == expected[id], "row \(id)")
        }
        #expect(seen == Set(expected.keys))
        // Requests of at most 5 spans; the 42 rows of one millisecond crossed page boundaries.
        let perRequest = Dictionary(grouping: received, by: \.request).mapValues(\.count)
        #expect(perRequest.values.allSatisfy { $0 <= 5 })
        #expect(received.filter { $0.start == ns("2026-11-01T10:20:00.500Z") }.count == 42)

        // The watermark is the last row's keyset, inspectable with SQL.
        let (time, id) = try keyset(s)
        let last = try readAll(s.clickhouse.query("SELECT toString(created_at), toString(id) FROM \(s.database).generations ORDER BY created_at DESC, id DESC LIMIT 1"))
        #expect(time == last[0][0].text)
        #expect(id == last[0][1].text)

        let second = try bridge.run()
        #expect(second.first?.status == .ok)
        #expect(second.first?.pointsExported == 0)
        #expect(try Receiver.spans(scope: s.receiverScope).count == received.count)
    }

    @Test("a batch that failed mid-pass is sent again, identical, by the next run")
    func failedBatchIsResentIdentically() throws {
        let s = try Scenario()
        try seed(s)
        let expected = try expectedSpans(s)
        try Receiver.control(scope: s.receiverScope, ["script": [["status": 200], ["status": 500, "message": "boom"]]])
        let bridge = try s.bridge(environment(s, pageSize: 50, spansPerRequest: 40), now: ns("2026-11-01T12:00:00Z"))
        let failed = try bridge.run()
        #expect(failed.first?.status == .failed)
        #expect(failed.first?.pointsExported == 40)
        let afterFailure = try Receiver.spans(scope: s.receiverScope)
        let rejected = afterFailure.filter { !$0.accepted }
        #expect(rejected.count == 40)
        let (_, committedID) = try keyset(s)
        #expect(committedID != nil)

        let again = try bridge.run()
        #expect(again.first?.status == .ok, "\(again.first?.error ?? "")")
        let all = try Receiver.spans(scope: s.receiverScope)
        let resent = all.dropFirst(afterFailure.count)
        // The next run starts with the very batch that failed: the same spans, in the same order.
        #expect(Array(resent.prefix(40)).map(\.content) == rejected.map(\.content))
        let accepted = all.filter(\.accepted)
        #expect(accepted.count == expected.count)
        #expect(Set(accepted.compactMap { if case .string(let id)? = $0.attributes["portkey.id"] { id } else { nil } }) == Set(expected.keys))
    }

    @Test("a traces endpoint that is down holds back neither the metrics nor itself once it is back")
    func tracesAndMetricsFailIndependently() throws {
        let s = try Scenario()
        try seed(s)
        try Receiver.control(scope: s.receiverScope, ["default": ["status": 503]])
        let bridge = try s.bridge(environment(s, pageSize: 500, spansPerRequest: 500, push: true, extra: ["BRIDGE_EXPORT_MAX_ELAPSED": "1"]),
                                  now: ns("2026-11-01T12:00:00Z"))
        let down = try bridge.run()
        #expect(down.filter { $0.pipeline != "gen_ai_traces" }.allSatisfy { $0.status == .ok })
        #expect(down.filter { $0.pipeline != "gen_ai_traces" }.count >= 4)
        #expect(down.last?.pipeline == "gen_ai_traces" && down.last?.status == .failed)
        #expect(try keyset(s).1 == nil)
        try Receiver.control(scope: s.receiverScope, ["default": ["status": 200]])
        let back = try bridge.run()
        #expect(back.allSatisfy { $0.status == .ok })
        #expect(back.last?.pointsExported == Int64(try expectedSpans(s).count))
    }
}
