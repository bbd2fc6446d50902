import Checkpoints
import Foundation
import Bridge
import Commands
import Observability
import Service
import Rollup
import Testing
import TestSupport

/// The six default metrics end to end: generated rows in ClickHouse, `otel-bridge run` logic
/// in-process with a fixed clock, real Postgres, the real OTLP receiver; expectations computed
/// from the raw rows.
@Suite("Default metrics end to end")
struct DefaultMetricsTests {
    @Test("delta: every metric's values are those of the bucket alone", .timeLimit(.minutes(10)))
    func delta() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-01T10:00:00Z", end: "2026-03-01T11:00:00Z")
        let rows = try s.rawRows()
        #expect(rows.count > 500)
        // The rows hold every request-path shape, and only those (gen_ai.operation.name, server.*).
        #expect(Set(rows.map(\.requestURL)) == Set(Expectations.requestShapes.keys))
        let summaries = try s.bridge(s.environment(temporality: "delta", startAt: "2026-03-01T10:00:00Z"), now: ns("2026-03-01T11:05:00Z")).run()
        #expect(summaries.map(\.status) == [.ok, .ok, .ok, .ok])
        #expect(summaries.allSatisfy { $0.watermarkAfter == ns("2026-03-01T11:03:00Z") })
        let expected = Expectations.points(rows: rows, from: ns("2026-03-01T10:00:00Z"), until: ns("2026-03-01T11:03:00Z"), cumulative: false)
        let received = try s.received()
        #expect(Set(received.map(\.metric)) == ["portkey.requests", "portkey.tokens", "portkey.cost", "gen_ai.client.operation.duration",
                                                "gen_ai.client.token.usage", "portkey.request.latency"])
        let problems = Expectations.check(received: received, expected: expected)
        #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(5))")
        #expect(received.count == expected.count)
        // Units as SPEC.md fixes them.
        let units = Dictionary(received.map { ($0.metric, $0.unit) }, uniquingKeysWith: { a, _ in a })
        #expect(units == ["portkey.requests": "{request}", "portkey.tokens": "{token}", "portkey.cost": "USD",
                          "gen_ai.client.operation.duration": "s", "gen_ai.client.token.usage": "{token}", "portkey.request.latency": "s"])
    }

    @Test("gen_ai_latest_experimental: the newest GenAI metrics equal the raw rows' computation; portkey.* unchanged", .timeLimit(.minutes(10)))
    func latestConventions() throws {
        for temporality in ["delta", "cumulative"] {
            let t = try Scenario()
            try t.seed(start: "2026-03-04T10:00:00Z", end: "2026-03-04T11:00:00Z")
            #expect(Set(try t.rawRows().map(\.requestURL)) == Set(Expectations.requestShapes.keys))
            let env = t.environment(temporality: temporality, startAt: "2026-03-04T10:00:00Z",
                                    extra: ["OTEL_SEMCONV_STABILITY_OPT_IN": "http, gen_ai_latest_experimental"])
            let summaries = try t.bridge(env, now: ns("2026-03-04T11:05:00Z")).run()
            #expect(summaries.map(\.status) == [.ok, .ok, .ok, .ok])
            let expected = Expectations.points(rows: try t.rawRows(), from: ns("2026-03-04T10:00:00Z"), until: ns("2026-03-04T11:03:00Z"),
                                               cumulative: temporality == "cumulative", latest: true)
            let received = try t.received()
            #expect(Set(received.map(\.metric)) == Expectations.genAIMetrics(latest: true).union(["portkey.requests", "portkey.tokens", "portkey.cost", "portkey.request.latency"]))
            let problems = Expectations.check(received: received, expected: expected)
            #expect(problems.isEmpty, "\(temporality): \(problems.count) problems, first: \(problems.prefix(5))")
            #expect(received.count == expected.count)
            let units = Dictionary(received.map { ($0.metric, $0.unit) }, uniquingKeysWith: { a, _ in a })
            #expect(units["gen_ai.client.inference.duration"] == "s" && units["gen_ai.client.inference.usage.input_tokens"] == "{token}"
                    && units["gen_ai.client.inference.operation.output_tokens"] == "{token}")
        }
    }

    @Test("cumulative: totals continue across runs and a restart, start times never change", .timeLimit(.minutes(10)))
    func cumulative() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-02T10:00:00Z", end: "2026-03-02T12:00:00Z")
        let rows = try s.rawRows()
        let env = s.environment(startAt: "2026-03-02T10:00:00Z")
        // First run: up to 11:03 (lag 2 min). Second run, from a new Bridge (a restart reads
        // everything back from Postgres): up to 12:03.
        let first = try s.bridge(env, now: ns("2026-03-02T11:05:00Z")).run()
        #expect(first.allSatisfy { $0.status == .ok && $0.watermarkAfter == ns("2026-03-02T11:03:00Z") })
        let second = try s.bridge(env, now: ns("2026-03-02T12:05:00Z")).run()
        #expect(second.allSatisfy { $0.status == .ok && $0.watermarkBefore == ns("2026-03-02T11:03:00Z") && $0.watermarkAfter == ns("2026-03-02T12:03:00Z") })
        let expected = Expectations.points(rows: rows, from: ns("2026-03-02T10:00:00Z"), until: ns("2026-03-02T12:03:00Z"), cumulative: true)
        let received = try s.received()
        let problems = Expectations.check(received: received, expected: expected)
        #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(5))")
        // Series seen in both runs keep the start time of their first bucket.
        let startTimes = Dictionary(grouping: received, by: { "\($0.metric)|\($0.seriesKey)" }).mapValues { Set($0.map(\.start)) }
        #expect(startTimes.values.allSatisfy { $0.count == 1 })
        // Cumulative state is in Postgres, readable with SQL.
        let store = try s.store()
        let series = try store.loadSeries(pipeline: "requests")
        #expect(!series.isEmpty && series.allSatisfy { $0.intTotal ?? 0 > 0 })
    }

    @Test("a second run with nothing new sends nothing; late rows go out once in their own bucket; rows inside the lag wait", .timeLimit(.minutes(10)))
    func incremental() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-03T10:00:00Z", end: "2026-03-03T10:30:00Z")
        let env = s.environment(temporality: "delta", startAt: "2026-03-03T10:00:00Z")
        let at1035 = ns("2026-03-03T10:35:00Z")
        _ = try s.bridge(env, now: at1035).run()
        let afterFirst = try s.received()
        #expect(!afterFirst.isEmpty)

        let again = try s.bridge(env, now: at1035).run()
        #expect(again.allSatisfy { $0.status == .ok && $0.pointsExported == 0 && $0.batches == 0 })
        #expect(try s.received().count == afterFirst.count)

        // Rows at 10:33:xx: bucket 10:33 closes at 10:34 + lag 2 min = 10:36.
        try s.seed(start: "2026-03-03T10:33:00Z", end: "2026-03-03T10:34:00Z", seed: 99, ratePerMinute: 50)
        _ = try s.bridge(env, now: at1035).run()
        #expect(try s.received().count == afterFirst.count, "the 10:33 bucket is still inside the lag")

        let later = try s.bridge(env, now: ns("2026-03-03T10:36:00Z")).run()
        #expect(later.allSatisfy { $0.watermarkAfter == ns("2026-03-03T10:34:00Z") })
        let newPoints = try s.received().filter { $0.request > (afterFirst.map(\.request).max() ?? 0) }
        #expect(!newPoints.isEmpty)
        #expect(newPoints.allSatisfy { $0.time == ns("2026-03-03T10:34:00Z") && $0.start == ns("2026-03-03T10:33:00Z") })
        let rows = try s.rawRows().filter { $0.createdAt >= ns("2026-03-03T10:33:00Z") }
        let expected = Expectations.points(rows: rows, from: ns("2026-03-03T10:33:00Z"), until: ns("2026-03-03T10:34:00Z"), cumulative: false)
        #expect(Expectations.check(received: newPoints, expected: expected).isEmpty)

        _ = try s.bridge(env, now: ns("2026-03-03T10:40:00Z")).run()
        #expect(try s.received().count == afterFirst.count + newPoints.count, "nothing is sent twice")
    }

    @Test("--dry-run prints the points, sends nothing and moves no checkpoint", .timeLimit(.minutes(10)))
    func dryRun() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-04T10:00:00Z", end: "2026-03-04T10:10:00Z")
        let lines = Collected<String>()
        let summaries = try s.bridge(s.environment(startAt: "2026-03-04T10:00:00Z"), now: ns("2026-03-04T10:15:00Z"))
            .run(dryRun: true, output: { lines.append($0) })
        #expect(summaries.allSatisfy { $0.status == .ok })
        #expect(try s.received().isEmpty)
        let printed = lines.values
        #expect(printed.contains { $0.contains("portkey.requests") && $0.contains("gen_ai.provider.name=") })
        #expect(printed.contains { $0.contains("portkey.request.latency") && $0.contains("q0.99=") })
        #expect(printed.count == summaries.reduce(0) { $0 + Int($1.pointsExported) })
        let store = try s.store()
        _ = try store.migrate()
        #expect(try store.statuses().isEmpty, "a dry run creates no checkpoint")
        #expect(try store.recentRuns(pipeline: "requests").isEmpty)
    }
}
