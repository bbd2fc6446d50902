import Foundation
import Synchronization
import Logging
import Bridge
import Commands
import Observability
import Service
import Rollup
import Testing
import TestSupport
import UTCTime

/// The bridge's own `otel_bridge.*` metrics, as the real receiver gets them after real passes:
/// values equal to the passes' summaries, the lag exact under the injected clock, failures by
/// `error.type`, and `service.instance.id` on their resource only.
@Suite("Self-telemetry end to end")
struct SelfTelemetryTests {
    /// The values of one self-telemetry metric at the receiver, by `otel_bridge.pipeline` (and
    /// `/error.type` for failures); the last point of each series wins.
    static func values(_ points: [ReceivedPoint], _ metric: String) -> [String: ReceivedPoint.Value] {
        var out: [String: ReceivedPoint.Value] = [:]
        for p in points.sorted(by: { $0.request < $1.request }) where p.metric == metric {
            let key = [p.attributes["otel_bridge.pipeline"] ?? "?", p.attributes["error.type"]].compactMap { $0 }.joined(separator: "/")
            out[key] = p.value
        }
        return out
    }

    /// The resource attributes of every resourceMetrics the receiver accepted for this scenario,
    /// with whether it held self-telemetry or rollup metrics.
    static func resources(_ s: Scenario) throws -> [(selfTelemetry: Bool, attributes: [String: String])] {
        var out: [(Bool, [String: String])] = []
        for record in try Receiver.records() where (record["accepted"] as? Bool) == true {
            for rm in Receiver.resourceMetrics(of: record) {
                let resource = Receiver.attributes(resourceOf: rm)
                guard resource["test.id"] == s.id else { continue }
                let names = (rm["scopeMetrics"] as? [[String: Any]] ?? []).flatMap { ($0["metrics"] as? [[String: Any]] ?? []).map { $0["name"] as? String ?? "" } }
                #expect(!names.isEmpty)
                #expect(names.allSatisfy(Receiver.isSelfTelemetry) || !names.contains(where: Receiver.isSelfTelemetry),
                        "self-telemetry is never mixed into a rollup request: \(names)")
                out.append((names.allSatisfy(Receiver.isSelfTelemetry), resource))
            }
        }
        return out
    }

    @Test("cumulative: rows read, points exported and the lag equal the passes' own figures; only self-telemetry carries service.instance.id",
          .timeLimit(.minutes(10)))
    func cumulative() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-20T10:00:00Z", end: "2026-03-20T10:30:00Z")
        let now = ns("2026-03-20T10:35:00Z")
        let bridge = try s.bridge(s.environment(startAt: "2026-03-20T10:00:00Z"), now: now)
        let first = try bridge.run()
        #expect(first.count == 4 && first.allSatisfy { $0.status == .ok && $0.rowsRead > 0 && $0.pointsExported > 0 })
        // The same process again: nothing new, the totals stay, the pass count grows.
        let second = try bridge.run()
        #expect(second.allSatisfy { $0.status == .ok && $0.rowsRead == 0 && $0.pointsExported == 0 })

        let points = try s.receivedSelfTelemetry()
        let lastRequest = try #require(points.map(\.request).max())
        let latest = points.filter { $0.request == lastRequest }
        #expect(Set(latest.map(\.metric)) == ["otel_bridge.pass.duration", "otel_bridge.rows.read", "otel_bridge.points.exported",
                                              "otel_bridge.points.rejected", "otel_bridge.watermark.lag",
                                              "otel_bridge.late.folded", "otel_bridge.late.unfolded"])
        let rows = Self.values(latest, "otel_bridge.rows.read")
        let exported = Self.values(latest, "otel_bridge.points.exported")
        let lag = Self.values(latest, "otel_bridge.watermark.lag")
        for summary in first {
            #expect(rows[summary.pipeline] == .int(summary.rowsRead), "\(summary.pipeline)")
            #expect(exported[summary.pipeline] == .int(summary.pointsExported), "\(summary.pipeline)")
            // now - watermark, both from the test's own clock values: 10:35 - 10:33.
            #expect(summary.watermarkAfter == ns("2026-03-20T10:33:00Z"))
            #expect(lag[summary.pipeline] == .double(Double(now - summary.watermarkAfter) / 1e9), "\(summary.pipeline)")
        }
        #expect(Self.values(latest, "otel_bridge.points.rejected").values.allSatisfy { $0 == .int(0) })
        #expect(Self.values(latest, "otel_bridge.late.folded").values.allSatisfy { $0 == .int(0) }, "no late rows")
        #expect(Set(rows.keys) == ["requests", "tokens", "cost", "latency"])
        let units = ["otel_bridge.pass.duration": "s", "otel_bridge.rows.read": "{row}", "otel_bridge.points.exported": "{point}",
                     "otel_bridge.points.rejected": "{point}", "otel_bridge.watermark.lag": "s",
                     "otel_bridge.late.folded": "{change}", "otel_bridge.late.unfolded": "{change}"]
        for p in latest {
            #expect(p.unit == units[p.metric], "\(p.metric)")
            switch p.metric {
            case "otel_bridge.watermark.lag":
                #expect(p.kind == "gauge" && p.time == now)
            case "otel_bridge.pass.duration":
                #expect(p.kind == "histogram" && p.temporality == 2 && p.start == now)
                guard case .histogram(let count, let sum, _, _, let buckets, let bounds) = p.value else { Issue.record("\(p)"); continue }
                #expect(count == 2, "two passes of each pipeline")
                #expect(buckets.reduce(0, +) == 2 && sum >= 0)
                #expect(bounds == SelfTelemetry.durationBounds)
            default:
                #expect(p.kind == "sum" && p.temporality == 2 && p.start == now && p.time == now, "\(p)")
            }
        }
        // Each report is the totals since the process started: both runs' requests carry the same values.
        #expect(Self.values(points.filter { $0.request < lastRequest }, "otel_bridge.rows.read") == rows)

        let resources = try Self.resources(s)
        let own = resources.filter(\.selfTelemetry), rollups = resources.filter { !$0.selfTelemetry }
        #expect(own.count == 2, "one self-telemetry request per run")
        #expect(!rollups.isEmpty)
        #expect(rollups.allSatisfy { $0.attributes["service.instance.id"] == nil }, "the rollups never carry the instance id")
        let ids = Set(own.compactMap { $0.attributes["service.instance.id"] })
        #expect(ids.count == 1 && ids.allSatisfy { UUID(uuidString: $0) != nil }, "one random instance id per process: \(ids)")
        #expect(own.allSatisfy { $0.attributes["service.name"] == "otel-bridge" }, "the configured resource, plus the id")
    }

    @Test("a broken query is counted under error.type=query, pass after pass; its lag is that of the watermark it could not move",
          .timeLimit(.minutes(10)))
    func failures() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-21T10:00:00Z", end: "2026-03-21T10:30:00Z")
        let file = try BadInputTests.pipelineFile(sql: BadInputTests.sql(value: "count(no_such_column)"))
        let now = ns("2026-03-21T10:35:00Z")
        let bridge = try s.bridge(s.environment(startAt: "2026-03-21T10:00:00Z", extra: ["BRIDGE_CONFIG": file]), now: now)
        let summaries = try bridge.run() + bridge.run()
        #expect(summaries.map(\.status) == [.failed, .failed])
        #expect(summaries.allSatisfy { SelfTelemetry.errorType(of: $0) == "query" }, "\(summaries.map(\.error))")
        let points = try s.receivedSelfTelemetry()
        #expect(Self.values(points, "otel_bridge.pass.failures") == ["case/query": .int(2)])
        #expect(points.filter { $0.metric == "otel_bridge.pass.failures" }.allSatisfy { $0.kind == "sum" && $0.temporality == 2 && $0.unit == "{failure}" })
        #expect(Self.values(points, "otel_bridge.points.exported") == ["case": .int(0)])
        #expect(Self.values(points, "otel_bridge.watermark.lag") == ["case": .double(35 * 60)], "10:35 - the 10:00 start")
        #expect(try s.received().isEmpty, "no rollup point")
    }

    @Test("delta: each run's request carries that run's figures, from the previous report to now", .timeLimit(.minutes(10)))
    func delta() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-22T10:00:00Z", end: "2026-03-22T10:45:00Z")
        let clock = TestClock(ns("2026-03-22T10:35:00Z"))
        let configuration = try BridgeConfiguration(environment: s.environment(temporality: "delta", startAt: "2026-03-22T10:00:00Z"))
        let bridge = Bridge(configuration: configuration, pipelines: try Bridge.loadPipelines(path: configuration.configPath),
                            logger: Logger(label: "it"), now: { clock.now })
        let first = try bridge.run(only: ["requests"])
        clock.now = ns("2026-03-22T10:45:30Z")
        let second = try bridge.run(only: ["requests"])
        #expect(first[0].status == .ok && second[0].status == .ok)
        #expect(second[0].watermarkAfter == ns("2026-03-22T10:43:00Z"))

        let points = try s.receivedSelfTelemetry().sorted { $0.request < $1.request }
        let requests = Array(Set(points.map(\.request))).sorted()
        #expect(requests.count == 2)
        let byRun = requests.map { r in points.filter { $0.request == r } }
        for (run, (summary, start, end)) in zip(byRun, [(first[0], ns("2026-03-22T10:35:00Z"), ns("2026-03-22T10:35:00Z")),
                                                        (second[0], ns("2026-03-22T10:35:00Z"), ns("2026-03-22T10:45:30Z"))]) {
            #expect(Self.values(run, "otel_bridge.rows.read") == ["requests": .int(summary.rowsRead)])
            #expect(Self.values(run, "otel_bridge.points.exported") == ["requests": .int(summary.pointsExported)])
            #expect(Self.values(run, "otel_bridge.watermark.lag") == ["requests": .double(Double(end - summary.watermarkAfter) / 1e9)])
            for p in run where p.kind != "gauge" {
                #expect(p.temporality == 1 && p.start == start && p.time == end, "\(p)")
                if case .histogram(let count, _, _, _, _, _) = p.value { #expect(count == 1) }
            }
        }
        #expect(first[0].rowsRead > 0 && second[0].rowsRead > 0, "both runs read rows, each request only its own")
    }

    @Test("BRIDGE_SELF_TELEMETRY=false: no otel_bridge.* metric arrives, the rollups do", .timeLimit(.minutes(10)))
    func disabled() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-23T10:00:00Z", end: "2026-03-23T10:10:00Z")
        let summaries = try s.bridge(s.environment(startAt: "2026-03-23T10:00:00Z", extra: ["BRIDGE_SELF_TELEMETRY": "false"]),
                                     now: ns("2026-03-23T10:15:00Z")).run(only: ["requests"])
        #expect(summaries.first?.status == .ok)
        #expect(!(try s.received().isEmpty))
        #expect(try s.receivedSelfTelemetry().isEmpty)
    }

    @Test("the receiver down: the run's outcome is the rollups' alone, and the telemetry gives up within seconds", .timeLimit(.minutes(10)))
    func receiverDown() throws {
        let s = try Scenario()
        try s.seed(start: "2026-03-24T10:00:00Z", end: "2026-03-24T10:10:00Z")
        var env = s.environment(startAt: "2026-03-24T10:00:00Z", extra: ["OTEL_ENDPOINT": "http://127.0.0.1:9", "BRIDGE_EXPORT_MAX_ELAPSED": "0"])
        env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "2000"
        let started = ContinuousClock.now
        let summaries = try s.bridge(env, now: ns("2026-03-24T10:15:00Z")).run(only: ["requests"])
        #expect(summaries.map(\.status) == [.failed])
        #expect(ContinuousClock.now - started < .seconds(20), "no long retry budget for the telemetry")
        #expect(try s.store().checkpoint(pipeline: "requests").map { $0.watermark.unixNanoseconds } == ns("2026-03-24T10:00:00Z"))
    }

    @Test("Postgres unreachable: each selected pipeline's failure arrives under error.type=checkpoint", .timeLimit(.minutes(10)))
    func checkpointStoreDown() throws {
        let s = try Scenario()
        var env = s.environment(startAt: "2026-03-25T10:00:00Z")
        env["CHECKPOINT_DATABASE_URL"] = "postgresql://postgres:x@127.0.0.1:9/postgres?connect_timeout=2"
        let bridge = try s.bridge(env, now: ns("2026-03-25T10:15:00Z"))
        #expect(throws: BridgeError.self) { try bridge.run(only: ["requests", "tokens"]) }
        let points = try s.receivedSelfTelemetry()
        #expect(Self.values(points, "otel_bridge.pass.failures") == ["requests/checkpoint": .int(1), "tokens/checkpoint": .int(1)])
        #expect(points.allSatisfy { $0.metric != "otel_bridge.watermark.lag" }, "no watermark was read")
        #expect(try s.received().isEmpty)
    }
}

/// A clock a test moves between runs.
final class TestClock: Sendable {
    private let value: Mutex<Int64>
    init(_ now: Int64) { value = Mutex(now) }
    var now: Int64 {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
