import Checkpoints
import Foundation
import Bridge
import Rollup
import Testing
import TestSupport

@Suite("Late data")
struct LateDataTests {
    @Test("rows that arrive for an exported bucket are detected once, counted in the run, and not re-sent", .timeLimit(.minutes(10)))
    func detected() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-09T10:00:00Z", end: "2026-03-09T10:30:00Z")
        let env = s.environment(temporality: "delta", startAt: "2026-03-09T10:00:00Z")
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
