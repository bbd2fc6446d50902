import Foundation
import Bridge
import Commands
import Observability
import Service
import Testing
import TestSupport

/// Late rows under delta temporality in a pipeline whose metric reached its cardinality limit. Delta
/// admission is "the first limit-1 series of the bucket", in the order the result meets them, so a
/// re-read that admitted that way could push a series exported under its own attributes into
/// `otel.metric.overflow=true` and fold its old value a second time. The re-read admits what the
/// export admitted (``LateAdmission``); new series take only the room the export left.
@Suite("Late fold with the overflow series")
struct LateFoldOverflowTests {
    @Test("delta, cardinality_limit reached: after late rows of new series, the received requests total equals the table")
    func overflowDelta() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-11T10:00:00Z", end: "2026-03-11T10:30:00Z")
        let env = s.environment(temporality: "delta", startAt: "2026-03-11T10:00:00Z",
                                extra: ["BRIDGE_CONFIG": try s.config(defaults: ["cardinality_limit: 3"])])
        _ = try s.bridge(env, now: ns("2026-03-11T10:35:00Z")).run(only: ["requests"])
        // Late rows (another seed: other providers, models, workspaces) in an exported bucket
        // inside late_data_check.
        try s.seed(start: "2026-03-11T10:25:00Z", end: "2026-03-11T10:26:00Z", seed: 701, ratePerMinute: 30)
        let second = try s.bridge(env, now: ns("2026-03-11T10:36:00Z")).run(only: ["requests"])
        #expect(second.first?.status == .ok)
        let rows = try s.rawRows().filter { $0.createdAt < ns("2026-03-11T10:34:00Z") }.count
        let received = try s.received().filter { $0.metric == "portkey.requests" }
            .reduce(Int64(0)) { if case .int(let v) = $1.value { $0 + v } else { $0 } }
        #expect(received == Int64(rows), "delta points of portkey.requests add up to \(received); the table has \(rows) rows")
    }
}
