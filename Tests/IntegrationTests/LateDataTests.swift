import Checkpoints
import Foundation
import Bridge
import Commands
import Observability
import Service
import Rollup
import Testing
import TestSupport

@Suite("Late data")
struct LateDataTests {
    @Test("late_data: report: rows that arrive for an exported bucket are detected once, counted in the run, and not re-sent", .timeLimit(.minutes(10)))
    func detected() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-09T10:00:00Z", end: "2026-03-09T10:30:00Z")
        let env = s.environment(temporality: "delta", startAt: "2026-03-09T10:00:00Z",
                                extra: ["BRIDGE_CONFIG": try s.config(defaults: ["late_data: report"])])
        _ = try s.bridge(env, now: ns("2026-03-09T10:35:00Z")).run(only: ["requests"])
        let sent = try s.received().count

        // Rows for 10:25 (exported, inside the 15 min check) and 10:05 (exported, outside it).
        try s.seed(start: "2026-03-09T10:25:00Z", end: "2026-03-09T10:26:00Z", seed: 501, ratePerMinute: 30)
        try s.seed(start: "2026-03-09T10:05:00Z", end: "2026-03-09T10:06:00Z", seed: 502, ratePerMinute: 30)
        let second = try s.bridge(env, now: ns("2026-03-09T10:36:00Z")).run(only: ["requests"])
        #expect(second.first?.status == .ok)
        #expect(second.first?.lateBuckets == 1, "only the 10:25 bucket is inside late_data_check")
        let store = try s.store()
        #expect(try store.recentRuns(pipeline: "requests", limit: 1).first?.lateBuckets == 1)
        #expect(try store.statuses().first { $0.pipeline == "requests" }?.lateBuckets24h == 1)
        let resent = try s.received().dropFirst(sent)
        #expect(resent.allSatisfy { $0.time == ns("2026-03-09T10:34:00Z") }, "only the newly closed bucket is sent, nothing is re-sent")

        // Counted once: the next pass finds the stored digest up to date.
        let third = try s.bridge(env, now: ns("2026-03-09T10:37:00Z")).run(only: ["requests"])
        #expect(third.first?.lateBuckets == 0)
    }

    @Test("late_data: fold (the default): after late rows, every series' total in the receiver equals the table, in both temporalities, for every default pipeline; a second pass folds nothing more",
          .timeLimit(.minutes(10)), arguments: ["delta", "cumulative"])
    func folded(temporality: String) throws {
        let s = try Scenario()
        let cumulative = temporality == "cumulative"
        try s.seed(start: "2026-03-10T10:00:00Z", end: "2026-03-10T10:30:00Z")
        let env = s.environment(temporality: temporality, startAt: "2026-03-10T10:00:00Z")
        let first = try s.bridge(env, now: ns("2026-03-10T10:35:00Z")).run()
        #expect(first.count == 4 && first.allSatisfy { $0.status == .ok && $0.watermarkAfter == ns("2026-03-10T10:33:00Z") })
        let sentFirst = try s.received().count

        // Late rows in two exported buckets inside late_data_check (15 min): 10:25 and 10:28, with
        // new series among them (another seed draws other providers, models and workspaces).
        try s.seed(start: "2026-03-10T10:25:00Z", end: "2026-03-10T10:26:00Z", seed: 601, ratePerMinute: 30)
        try s.seed(start: "2026-03-10T10:28:00Z", end: "2026-03-10T10:29:00Z", seed: 602, ratePerMinute: 30)
        let second = try s.bridge(env, now: ns("2026-03-10T10:36:00Z")).run()
        #expect(second.allSatisfy { $0.status == .ok && $0.watermarkAfter == ns("2026-03-10T10:34:00Z") })
        #expect(second.allSatisfy { $0.lateBuckets == 2 && $0.lateFolded > 0 && $0.lateUnfolded == 0 }, "\(second.map { ($0.pipeline, $0.lateBuckets, $0.lateFolded, $0.lateUnfolded) })")
        // The fold rides in the new bucket (10:33, ending 10:34): nothing older is sent again.
        let sentSecond = try s.received().dropFirst(sentFirst)
        #expect(!sentSecond.isEmpty && sentSecond.allSatisfy { $0.time == ns("2026-03-10T10:34:00Z") })

        func check(until: String) throws {
            let expected = Expectations.totals(Expectations.points(rows: try s.rawRows(), from: ns("2026-03-10T10:00:00Z"), until: ns(until), cumulative: false),
                                               cumulative: false)
            let received = Expectations.totals(try s.received(), cumulative: cumulative)
            let problems = Expectations.checkTotals(received: received, expected: expected)
            #expect(problems.isEmpty, "\(problems.count) problems, first: \(problems.prefix(5))")
            #expect(Set(received.keys.map { String($0.prefix { $0 != "|" }) }) == [
                "portkey.requests", "portkey.tokens", "portkey.cost", "gen_ai.client.operation.duration", "gen_ai.client.token.usage", "portkey.request.latency",
            ])
        }
        try check(until: "2026-03-10T10:34:00Z")
        let store = try s.store()
        let requests = try #require(try store.statuses().first { $0.pipeline == "requests" })
        #expect(requests.lateBuckets24h == 2 && requests.lateFolded24h == Int64(second.first { $0.pipeline == "requests" }!.lateFolded))
        #expect(try store.recentRuns(pipeline: "requests", limit: 1).first?.lateFolded == requests.lateFolded24h)
        // Self-telemetry counts them: the second process reported this pass's figure.
        let telemetry = try s.receivedSelfTelemetry().filter { $0.metric == "otel_bridge.late.folded" && $0.attributes["otel_bridge.pipeline"] == "requests" }
        let reported = telemetry.compactMap { if case .int(let v) = $0.value { v } else { nil } }
        #expect((cumulative ? reported.max() : reported.reduce(0, +)) == requests.lateFolded24h)

        // A second pass finds the new baseline: nothing more is folded, totals still equal.
        let third = try s.bridge(env, now: ns("2026-03-10T10:37:00Z")).run()
        #expect(third.allSatisfy { $0.status == .ok && $0.lateBuckets == 0 && $0.lateFolded == 0 })
        try check(until: "2026-03-10T10:35:00Z")
    }

    @Test("without late rows nothing is reported")
    func quiet() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-09T11:00:00Z", end: "2026-03-09T11:20:00Z")
        let env = s.environment(startAt: "2026-03-09T11:00:00Z")
        _ = try s.bridge(env, now: ns("2026-03-09T11:25:00Z")).run()
        let again = try s.bridge(env, now: ns("2026-03-09T11:30:00Z")).run()
        #expect(again.allSatisfy { $0.status == .ok && $0.lateBuckets == 0 })
    }
}
