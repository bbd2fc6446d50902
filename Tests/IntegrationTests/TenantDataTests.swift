import Checkpoints
import ClickHouse
import Foundation
import Bridge
import Commands
import Observability
import Service
import Rollup
import Testing
import TestSupport

/// Whatever a tenant writes into `generations` (any bytes, any length, any number of distinct
/// values), no pipeline stops: the export goes through, its checkpoint commits, and a second run
/// sends nothing. Against the real services, in cumulative temporality (the one with state).
@Suite("Tenant data never stops a pipeline")
struct TenantDataTests {
    static let start = "2026-03-05T10:00:00Z"
    static let now = "2026-03-05T11:05:00Z"

    /// Copies `count` seeded rows of the first 10 minutes with `ai_model` set to `expression`.
    static func insertModels(_ s: Scenario, _ expression: String, count: Int = 5) throws {
        _ = try s.clickhouse.execute("""
            INSERT INTO \(s.database).generations
            SELECT * REPLACE (\(expression) AS ai_model, generateUUIDv4() AS id)
            FROM \(s.database).generations
            WHERE created_at < toDateTime64('2026-03-05 10:10:00', 3, 'UTC')
            LIMIT \(count)
            """)
    }

    static func requestsPipeline(extra: String = "") throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("otel-bridge-tenant-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try """
            SELECT toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC') AS bucket,
                   ai_org AS `gen_ai.provider.name`, ai_model AS `gen_ai.request.model`, count() AS requests
            FROM generations
            WHERE created_at >= {window_start:DateTime64(3, 'UTC')} AND created_at < {window_end:DateTime64(3, 'UTC')}
            GROUP BY bucket, `gen_ai.provider.name`, `gen_ai.request.model`
            """.write(to: dir.appendingPathComponent("case.sql"), atomically: true, encoding: .utf8)
        let yaml = """
            pipelines:
              - name: case
                query: case.sql
            \(extra)
                metrics:
                  - metric_name: case.requests
                    data_type: sum
                    value_type: int
                    value_column: requests
                    attribute_columns: [gen_ai.provider.name, gen_ai.request.model]
            """
        let path = dir.appendingPathComponent("case.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Requests per bucket end, from the raw rows (the total over all series of a bucket).
    static func requestsPerBucket(_ s: Scenario, until: Int64) throws -> [Int64: Int64] {
        var want: [Int64: Int64] = [:]
        for r in try s.rawRows() where r.createdAt < until {
            want[r.createdAt / 60_000_000_000 * 60_000_000_000 + 60_000_000_000, default: 0] += 1
        }
        return want
    }

    @Test("NUL, 10 kB, invalid UTF-8, newlines and ANSI escapes in a model name: exported, committed, not sent twice", arguments: [
        ("NUL", "concat('gpt', char(0), 'evil')"),
        ("10 kB", "repeat('m', 10000)"),
        ("invalid UTF-8", "unhex('6770742DFFFE')"),
        ("newline and ANSI", "concat('gpt\\n2026-03-05 ERROR forged', char(27), '[31mred')"),
    ])
    func hostileValues(name: String, expression: String) throws {
        let s = try Scenario()
        try s.seed(start: Self.start, end: "2026-03-05T11:00:00Z")
        try Self.insertModels(s, expression)
        let file = try Self.requestsPipeline()
        let environment = s.environment(temporality: "cumulative", startAt: Self.start, extra: ["BRIDGE_CONFIG": file])
        let first = try s.bridge(environment, now: ns(Self.now)).run()
        #expect(first[0].status == .ok, "\(name): \(first[0].error ?? "")")
        #expect(first[0].watermarkAfter == ns("2026-03-05T11:03:00Z"))
        let received = try s.received()
        let models = Set(received.compactMap { $0.attributes["gen_ai.request.model"] })
        switch name {
        case "NUL": #expect(models.contains("gpt\u{0}evil"))
        case "10 kB": #expect(models.contains(String(repeating: "m", count: 10_000)))
        case "invalid UTF-8": #expect(models.contains("gpt-\\xff\\xfe"), "invalid bytes are escaped, never dropped")
        default: #expect(models.contains { $0.hasPrefix("gpt\n2026") })
        }
        // The last cumulative point of each series, summed, is every row (nothing lost or merged away).
        var last: [String: (Int64, Int64)] = [:]
        for p in received { if case .int(let v) = p.value, (last[p.seriesKey]?.0 ?? 0) <= p.time { last[p.seriesKey] = (p.time, v) } }
        let total = try Self.requestsPerBucket(s, until: ns("2026-03-05T11:03:00Z")).values.reduce(0, +)
        #expect(last.values.map(\.1).reduce(0, +) == total)
        // State keyed by digest: every stored id is 64 hex digits.
        let states = try s.store().loadSeries(pipeline: "case")
        #expect(!states.isEmpty && states.allSatisfy { $0.seriesID.count == 64 })
        let second = try s.bridge(environment, now: ns(Self.now)).run()
        #expect(second[0].status == .ok && second[0].pointsExported == 0)
        #expect(try s.received().count == received.count)
    }

    @Test("result groups that are one series ('' and NULL both omit the attribute) are merged, with the exact sum")
    func mergedGroups() throws {
        let s = try Scenario()
        try s.seed(start: Self.start, end: "2026-03-05T11:00:00Z")
        let dir = (try Self.requestsPipeline() as NSString).deletingLastPathComponent
        // The provider column is '' for openai rows and NULL for the rest: two groups per bucket, one series.
        try """
            SELECT toStartOfInterval(created_at, toIntervalSecond({step_seconds:UInt32}), 'UTC') AS bucket,
                   if(ai_org = 'openai', '', NULL) AS `gen_ai.provider.name`, ai_org AS `gen_ai.request.model`, count() AS requests
            FROM generations
            WHERE created_at >= {window_start:DateTime64(3, 'UTC')} AND created_at < {window_end:DateTime64(3, 'UTC')}
            GROUP BY bucket, `gen_ai.provider.name`, ai_org
            """.replacingOccurrences(of: "ai_org AS `gen_ai.request.model`", with: "'' AS `gen_ai.request.model`")
            .write(toFile: dir + "/case.sql", atomically: true, encoding: .utf8)
        let environment = s.environment(temporality: "delta", startAt: Self.start, extra: ["BRIDGE_CONFIG": dir + "/case.yaml"])
        let summary = try s.bridge(environment, now: ns(Self.now)).run()[0]
        #expect(summary.status == .ok, "\(summary.error ?? "")")
        #expect(summary.mergedRows > 0)
        var got: [Int64: Int64] = [:]
        for p in try s.received() {
            #expect(p.attributes.isEmpty)
            if case .int(let v) = p.value { #expect(got[p.time] == nil); got[p.time] = v }
        }
        #expect(got == (try Self.requestsPerBucket(s, until: ns("2026-03-05T11:03:00Z"))))
    }

    @Test("a metric past its cardinality limit: limit - 1 series keep their attributes, the rest go to otel.metric.overflow=true, totals exact")
    func cardinality() throws {
        let s = try Scenario()
        try s.seed(start: Self.start, end: "2026-03-05T11:00:00Z")
        // 200 rows with 200 distinct random model names.
        try Self.insertModels(s, "concat('random-', toString(generateUUIDv4()))", count: 200)
        let file = try Self.requestsPipeline(extra: "    cardinality_limit: 20")
        let environment = s.environment(temporality: "cumulative", startAt: Self.start, extra: ["BRIDGE_CONFIG": file])
        let summary = try s.bridge(environment, now: ns(Self.now)).run()[0]
        #expect(summary.status == .ok, "\(summary.error ?? "")")
        #expect((summary.seriesOverflowed["case.requests"] ?? 0) > 0)
        let received = try s.received()
        let series = Set(received.map(\.seriesKey))
        #expect(series.count == 20, "19 series of their own and the overflow series")
        #expect(series.contains("otel.metric.overflow=bool:1"))
        var last: [String: (Int64, Int64)] = [:]
        for p in received { if case .int(let v) = p.value, (last[p.seriesKey]?.0 ?? 0) <= p.time { last[p.seriesKey] = (p.time, v) } }
        let total = try Self.requestsPerBucket(s, until: ns("2026-03-05T11:03:00Z")).values.reduce(0, +)
        #expect(last.values.map(\.1).reduce(0, +) == total, "the overflow series holds exactly what the others do not")
        let store = try s.store()
        #expect(try store.seriesCounts(pipeline: "case")["case.requests"] ?? 0 <= 20)
        #expect(try store.recentRuns(pipeline: "case", limit: 1).first?.error == nil)
        let overflowedRuns = try store.connection.query("SELECT sum(series_overflowed)::bigint AS n FROM otel_bridge.runs WHERE pipeline = 'case'")
        #expect(try overflowedRuns.single().int64("n") > 0)
    }
}
