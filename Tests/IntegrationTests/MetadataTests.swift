import Bridge
import Commands
import Observability
import Service
import ClickHouse
import Foundation
import GenAITraces
import Testing
import TestSupport

/// Request metadata on an allow-list, end to end: rows with and without each listed key, a key
/// not on the list, a 5,000-character value, more distinct values than the cardinality limit;
/// the metrics and the spans compared with what this test computes from the raw rows.
@Suite("Request metadata end to end", .serialized)
struct MetadataTests {
    static let listed = ["team", "feature", "api_key_id"]
    static let long = String(repeating: "é", count: 5_000)

    /// The shipped pipeline file with its query paths made absolute, `cardinality_limit: 16`
    /// under `defaults:`, and `edit` applied; written to a file of its own.
    func config(_ s: Scenario, name: String, edit: (String) -> String = { $0 }) throws -> String {
        var text = try String(contentsOfFile: Services.root + "/config/bridge.yaml", encoding: .utf8)
        text = text.replacingOccurrences(of: "../queries/", with: Services.root + "/queries/")
            .replacingOccurrences(of: "defaults:\n", with: "defaults:\n  cardinality_limit: 16\n")
        let path = NSTemporaryDirectory() + "/\(s.id)-\(name).yaml"
        try edit(text).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// One gateway row at `time` with metadata `pairs` (in order, a key may repeat).
    func row(_ time: String, _ pairs: [(String, String)], apiKey: String = "", cost: Double, tokens: Int) -> [String: Any] {
        [
            "id": UUID().uuidString.lowercased(), "created_at": time, "organisation_id": "org", "workspace_slug": "prod",
            "ai_org": "openai", "ai_model": "gpt-4o", "req_units": tokens, "res_units": 1, "total_units": tokens + 1,
            "cost": cost, "cost_currency": "USD", "response_status_code": 200, "is_success": 1, "response_time": 100,
            "cache_status": "MISS", "request_url": "https://api.openai.com/v1/chat/completions", "api_key_id": apiKey,
            "metadata.key": pairs.map(\.0), "metadata.value": pairs.map(\.1),
        ]
    }

    func seed(_ s: Scenario) throws {
        try s.seed(start: "2026-05-01T10:00:00Z", end: "2026-05-01T10:00:00Z")  // the table, no rows
        let t = "2026-05-01 10:00:"
        var rows = [
            row(t + "01.000", [("team", "a"), ("feature", "x"), ("secret", "s1")], apiKey: "k1", cost: 10, tokens: 100),
            row(t + "02.000", [("team", "a")], apiKey: "k1", cost: 20, tokens: 200),
            row(t + "03.000", [("feature", "x")], cost: 30, tokens: 300),
            row(t + "04.000", [], cost: 40, tokens: 400),
            row(t + "05.000", [("team", Self.long), ("secret", "s2")], apiKey: "k2", cost: 50, tokens: 500),
            row(t + "06.000", [("secret", "s3"), ("team", "a"), ("feature", "x")], apiKey: "k1", cost: 60, tokens: 600),
            row(t + "07.000", [("team", "b"), ("team", "c"), ("feature", "")], cost: 70, tokens: 700),
        ]
        // The next bucket: 30 teams for a cardinality limit of 16.
        for i in 0..<30 { rows.append(row(String(format: "2026-05-01 10:01:%02d.000", i), [("team", String(format: "team-%02d", i))], cost: 1, tokens: 1)) }
        let lines = try rows.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try s.clickhouse.execute("INSERT INTO \(s.database).generations FORMAT JSONEachRow", data: Array(lines.joined(separator: "\n").utf8))
    }

    struct Raw {
        var id: String, created: Int64, cents: Double, tokens: Int64
        /// The attributes the test expects: the listed keys the row has, first value, 256 characters.
        var metadata: [String: String]
    }

    func raw(_ s: Scenario) throws -> [Raw] {
        try readAll(s.clickhouse.query("SELECT toString(id), created_at, cost, req_units, api_key_id, `metadata.key`, `metadata.value` FROM \(s.database).generations"))
            .map { r in
                guard case .array(let keys) = r[5], case .array(let values) = r[6] else { throw TestFailure("metadata columns") }
                var m: [String: String] = [:]
                for k in Self.listed {
                    let value = k == "api_key_id" ? r[4].text! : keys.firstIndex(of: .string(k)).map { values[$0].text! } ?? ""
                    if !value.isEmpty { m["portkey.metadata." + k] = String(String.UnicodeScalarView(value.unicodeScalars.prefix(256))) }
                }
                return Raw(id: r[0].text!, created: r[1].unixNanoseconds!, cents: r[2].double!, tokens: r[3].int64!, metadata: m)
            }
    }

    func environment(_ s: Scenario, config: String, extra: [String: String] = [:]) -> [String: String] {
        s.environment(temporality: "delta", startAt: "2026-05-01T10:00:00Z", extra: [
            "BRIDGE_CONFIG": config, "BRIDGE_SELF_TELEMETRY": "false",
        ].merging(extra) { $1 })
    }

    @Test("listed keys only, bounded values, on requests, tokens, cost and spans; the cardinality limit holds")
    func allowList() throws {
        let s = try Scenario()
        try seed(s)
        let rows = try raw(s)
        #expect(rows.count == 37)
        let env = environment(s, config: try config(s, name: "meta"), extra: [
            "BRIDGE_METADATA_ATTRIBUTES": Self.listed.joined(separator: ","),
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true",
            "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": Receiver.tracesBase(scope: s.receiverScope),
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": Services.root + "/queries/gen_ai_traces.sql",
        ])
        let summaries = try s.bridge(env, now: ns("2026-05-01T10:10:00Z")).run()
        #expect(summaries.allSatisfy { $0.status == .ok }, "\(summaries.map { "\($0.pipeline): \($0.error ?? "")" })")
        let received = try s.received()

        // Bucket 10:00: each metric's series are the rows' metadata values, their values the rows'.
        let first = rows.filter { $0.created < ns("2026-05-01T10:01:00Z") }
        let base = ["gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"]
        let checks: [(metric: String, extra: [String: String], value: (Raw) -> Double)] = [
            ("portkey.requests", ["portkey.workspace": "prod", "http.response.status_code": "int:200", "portkey.cache_status": "MISS"], { _ in 1 }),
            ("portkey.cost", ["portkey.workspace": "prod", "portkey.currency": "USD"], { $0.cents / 100 }),
            ("portkey.tokens", ["gen_ai.token.type": "input"], { Double($0.tokens) }),
        ]
        for check in checks {
            var expected: [[String: String]: Double] = [:]
            for r in first { expected[base.merging(check.extra) { $1 }.merging(r.metadata) { $1 }, default: 0] += check.value(r) }
            var got: [[String: String]: Double] = [:]
            for p in received where p.metric == check.metric && p.time == ns("2026-05-01T10:01:00Z") && p.attributes["gen_ai.token.type"] != "output" {
                switch p.value {
                case .int(let i): got[p.attributes, default: 0] += Double(i)
                case .double(let d): got[p.attributes, default: 0] += d
                default: Issue.record("\(p)")
                }
            }
            #expect(Set(got.keys) == Set(expected.keys), "\(check.metric)")
            for (k, v) in expected { #expect(abs((got[k] ?? -1) - v) < 1e-9, "\(check.metric) \(k)") }
        }
        // The unlisted key never appears; the 5,000-character value arrives as its first 256.
        #expect(!received.contains { $0.attributes.keys.contains { $0.contains("secret") } })
        #expect(received.contains { $0.attributes["portkey.metadata.team"] == String(repeating: "é", count: 256) })
        // The metrics without metadata columns are as they were.
        #expect(!received.contains { $0.metric.hasPrefix("gen_ai.client.operation") && $0.attributes.keys.contains { $0.hasPrefix("portkey.metadata") } })

        // Bucket 10:01: 30 teams, a limit of 16: fifteen keep their attributes, the rest overflow.
        let second = received.filter { $0.metric == "portkey.requests" && $0.time == ns("2026-05-01T10:02:00Z") }
        #expect(second.count == 16)
        let overflow = second.filter { $0.attributes == ["otel.metric.overflow": "bool:1"] || $0.attributes == ["otel.metric.overflow": "bool:true"] }
        #expect(overflow.count == 1)
        #expect(overflow.first?.value == .int(15))
        #expect(second.filter { $0.attributes["portkey.metadata.team"]?.hasPrefix("team-") == true && $0.value == .int(1) }.count == 15)

        // Spans: every row's listed metadata, nothing else.
        let spans = try Receiver.spans(scope: s.receiverScope)
        #expect(spans.count == rows.count)
        let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0) })
        for span in spans {
            guard case .string(let id)? = span.attributes["portkey.id"], let r = byID[id] else { Issue.record("span without its row"); continue }
            var metadata: [String: String] = [:]
            for (k, v) in span.attributes where k.hasPrefix("portkey.metadata.") { if case .string(let text) = v { metadata[k] = text } }
            #expect(metadata == r.metadata, "row \(id)")
        }
    }

    @Test("with no keys listed the shipped pipelines send exactly the requests they sent without the metadata column")
    func emptyListChangesNothing() throws {
        let s = try Scenario()
        try s.seed(start: "2026-05-01T10:00:00Z", end: "2026-05-01T10:20:00Z", seed: 5, ratePerMinute: 30)
        let shipped = try config(s, name: "shipped")
        let without = try config(s, name: "without") {
            $0.replacingOccurrences(of: ",\n                            portkey.metadata]", with: "]")
                .replacingOccurrences(of: ", portkey.metadata]", with: "]")
        }
        #expect(try String(contentsOfFile: without, encoding: .utf8).contains("portkey.metadata]") == false)
        var bodies: [[Any]] = []
        for (name, path) in [("shipped", shipped), ("without", without)] {
            let scope = "/s/\(s.id)-\(name)"
            // A database of its own for each run's checkpoints; the same resource for both.
            let other = try Scenario()
            let env = other.environment(temporality: "cumulative", startAt: "2026-05-01T10:00:00Z", extra: [
                "BRIDGE_CONFIG": path, "BRIDGE_SELF_TELEMETRY": "false", "CLICKHOUSE_DATABASE": s.database,
                "OTEL_RESOURCE_ATTRIBUTES": "test.id=\(s.id)", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": Receiver.metricsEndpoint(scope: scope),
            ])
            let summaries = try other.bridge(env, now: ns("2026-05-01T10:30:00Z")).run()
            #expect(summaries.allSatisfy { $0.status == .ok }, "\(summaries.map { "\($0.pipeline): \($0.error ?? "")" })")
            bodies.append(try Receiver.records(scope: scope).map { $0["body"] ?? NSNull() })
        }
        #expect(bodies[0].count >= 4)  // a request per pipeline at least
        #expect(bodies[0].count == bodies[1].count)
        for (a, b) in zip(bodies[0], bodies[1]) { #expect(NSDictionary(dictionary: a as? [String: Any] ?? [:]).isEqual(b as? [String: Any] ?? [:])) }
    }
}
