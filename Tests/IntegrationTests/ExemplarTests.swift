import Bridge
import Commands
import Observability
import Service
import ClickHouse
import Foundation
import GenAITraces
import OTLP
import Testing
import TestSupport

/// Exemplars end to end: generated traffic plus the rows of every gateway id shape, the metrics
/// and the GenAI traces pipeline in one run; each exemplar compared with the raw rows and with the
/// span the traces pipeline exported for its row.
@Suite("Exemplars end to end", .serialized)
struct ExemplarTests {
    struct Row {
        var id: String, created: Int64, latencyMs: Int64, costCents: Double
        var latencySeries: [String: String], costSeries: [String: String]
    }

    func rows(_ s: Scenario) throws -> [Row] {
        try readAll(s.clickhouse.query("""
            SELECT toString(id), created_at, ai_org, ai_model, response_status_code, response_time, workspace_slug, cost_currency, cost, request_url
            FROM \(s.database).generations
            """)).map { r in
            func attrs(_ pairs: [(String, String)]) -> [String: String] {
                Dictionary(uniqueKeysWithValues: pairs.filter { !$0.1.isEmpty })
            }
            let provider = Expectations.providerName(r[2].text!), model = r[3].text!, status = r[4].int64!
            // The duration histogram's request attributes, as the spans derive them (RequestURLSQLTests
            // holds the templates' SQL to the same mapping).
            let url = RequestURL(r[9].text ?? "")
            return Row(id: r[0].text!, created: r[1].unixNanoseconds!, latencyMs: r[5].int64!, costCents: r[8].double!,
                       latencySeries: attrs([("gen_ai.provider.name", provider), ("gen_ai.request.model", model),
                                             ("error.type", status >= 400 ? String(status) : ""),
                                             ("gen_ai.operation.name", OperationName.of(path: url.path)),
                                             ("server.address", url.host),
                                             ("server.port", url.nonDefaultPort.map { "int:\($0)" } ?? "")]),
                       costSeries: attrs([("gen_ai.provider.name", provider), ("gen_ai.request.model", model),
                                          ("portkey.workspace", r[6].text!), ("portkey.currency", r[7].text!)]))
        }
    }

    /// Under cumulative temporality too (the exemplar is the bucket's own), and in OTLP/JSON (hex ids).
    @Test("each duration and cost point carries its series' largest request, with the ids of that row's span",
          .timeLimit(.minutes(10)), arguments: [("delta", "http/protobuf"), ("cumulative", "http/json")])
    func exemplarsLeadToSpans(temporality: String, wire: String) throws {
        let s = try Scenario()
        try GenAITraceTests().seed(s)  // generated rows, 42 rows of every id shape in one millisecond, bytes that are not UTF-8
        let rows = try rows(s)
        let env = s.environment(temporality: temporality, startAt: GenAITraceTests.start, extra: [
            "OTEL_SERVICE_NAME": "exemplar-it", "BRIDGE_SELF_TELEMETRY": "false",
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true",
            "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": Receiver.tracesBase(scope: s.receiverScope),
            "EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE": "5000",
            "OTEL_EXPORTER_OTLP_PROTOCOL": wire, "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_PROTOCOL": wire,
        ])
        let summaries = try s.bridge(env, now: ns("2026-11-01T12:00:00Z")).run()
        #expect(summaries.allSatisfy { $0.status == .ok }, "\(summaries.map { "\($0.pipeline): \($0.error ?? "")" })")

        let spans = try Receiver.spans(scope: s.receiverScope)
        #expect(spans.count == rows.count)
        var spanOf: [String: (trace: String, span: String)] = [:]
        for span in spans { if case .string(let id)? = span.attributes["portkey.id"] { spanOf[id] = (span.traceID, span.spanID) } }

        let received = try s.received()
        let step: Int64 = 60_000_000_000
        var checked: [String: Int] = [:]
        for (metric, series, value) in [
            ("gen_ai.client.operation.duration", \Row.latencySeries, { (r: Row) in Double(r.latencyMs) / 1000 }),
            ("portkey.cost", \Row.costSeries, { (r: Row) in r.costCents / 100 }),
        ] as [(String, KeyPath<Row, [String: String]>, (Row) -> Double)] {
            let points = received.filter { $0.metric == metric }
            #expect(!points.isEmpty)
            for p in points {
                guard p.exemplars.count == 1, let e = p.exemplars.first else { Issue.record("\(metric) point without one exemplar: \(p)"); continue }
                let group = rows.filter { $0.created >= p.time - step && $0.created < p.time && $0[keyPath: series] == p.attributes }
                let largest = group.map(value).max()
                #expect(largest != nil && abs(e.value - largest!) <= 1e-12 * max(abs(e.value), largest!), "\(metric) \(p.seriesKey): exemplar \(e.value), largest \(largest ?? -1)")
                // The row it names: of that value and time, and the span exported for it has its ids.
                // (ClickHouse divides by a constant as a multiplication: the last bits may differ.)
                func near(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-12 * max(abs(a), abs(b)) }
                let candidates = group.filter { near(value($0), e.value) && $0.created == e.time }
                #expect(!candidates.isEmpty, "\(metric) \(p.seriesKey): no row of value \(e.value) at \(e.time) among \(group.map { (value($0), $0.created) })")
                #expect(candidates.contains { spanOf[$0.id].map { $0 == (e.traceID, e.spanID) } ?? false },
                        "\(metric) \(p.seriesKey): ids \(e.traceID)/\(e.spanID) are not those of the span of a row of value \(e.value)")
                #expect(e.traceID.count == 32 && e.spanID.count == 16)
                checked[metric, default: 0] += 1
            }
        }
        // Every point was checked, the summary and the sums without an exemplar column carry none.
        #expect(checked["gen_ai.client.operation.duration"] == received.filter { $0.metric == "gen_ai.client.operation.duration" }.count)
        #expect(received.filter { !["gen_ai.client.operation.duration", "portkey.cost"].contains($0.metric) }.allSatisfy { $0.exemplars.isEmpty })
    }
}
