import Foundation
import Logging
import Testing
@testable import Bridge
@testable import Commands
@testable import Observability
@testable import Service
@testable import OTLP
@testable import Rollup

/// The self-telemetry recorder alone: what passes add up to, in each temporality.
@Suite("Self-telemetry recorder")
struct SelfTelemetryTests {
    static let resource = [Attribute("service.name", .string("otel-bridge")), Attribute("k8s.namespace.name", .string("ai"))]

    static func pass(_ pipeline: String, _ status: PassSummary.Status = .ok, watermark: Int64 = T, rows: Int64 = 0,
                     exported: Int64 = 0, rejected: Int64 = 0, error: String? = nil, code: BridgeError.Code? = nil) -> PassSummary {
        var s = PassSummary(pipeline: pipeline, status: status, watermarkBefore: watermark, watermarkAfter: watermark)
        s.rowsRead = rows
        s.pointsExported = exported
        s.pointsRejected = rejected
        s.error = error
        s.errorCode = code
        return s
    }

    static func metric(_ batch: MetricBatch, _ instrument: SelfTelemetry.Instrument) -> Metric? {
        batch.metrics.first { $0.name == instrument.name }
    }

    /// Integer values of a sum, by the points' attributes ("pipeline" or "pipeline/error.type").
    static func sums(_ batch: MetricBatch, _ instrument: SelfTelemetry.Instrument) -> [String: Int64] {
        guard case .sum(let monotonic, _, let points)? = metric(batch, instrument)?.data, monotonic else { return [:] }
        var out: [String: Int64] = [:]
        for p in points {
            let key = p.attributes.map { a -> String in if case .string(let v) = a.value { return v }; return "?" }.joined(separator: "/")
            if case .int(let v) = p.value { out[key] = v }
        }
        return out
    }

    @Test("instruments: names, units and kinds as deploy/ queries them")
    func instruments() {
        #expect(SelfTelemetry.instruments.map(\.name) == ["otel_bridge.pass.duration", "otel_bridge.rows.read", "otel_bridge.points.exported",
                                                            "otel_bridge.points.rejected", "otel_bridge.pass.failures", "otel_bridge.watermark.lag",
                                                            "otel_bridge.late.folded", "otel_bridge.late.unfolded", "otel_bridge.points.skipped"])
        #expect(SelfTelemetry.instruments.map(\.unit) == ["s", "{row}", "{point}", "{point}", "{failure}", "s", "{change}", "{change}", "{point}"])
    }

    @Test("late rows folded and not folded are counted per pipeline")
    func late() throws {
        let r = SelfTelemetry.Recorder(temporality: .cumulative, resource: Self.resource, startTime: T, instanceID: "i-1")
        var a = Self.pass("requests")
        a.lateFolded = 12
        a.lateUnfolded = 1
        r.record(a, duration: .milliseconds(10), errorType: nil, now: T + second)
        r.record(a, duration: .milliseconds(10), errorType: nil, now: T + 2 * second)
        r.record(Self.pass("tokens"), duration: .milliseconds(10), errorType: nil, now: T + 2 * second)
        let batch = try #require(r.report(now: T + 3 * second)).batch
        #expect(Self.sums(batch, SelfTelemetry.lateFolded) == ["requests": 24, "tokens": 0])
        #expect(Self.sums(batch, SelfTelemetry.lateUnfolded) == ["requests": 2, "tokens": 0])
    }

    @Test("points skipped are counted by reason, only for pipelines that skipped some")
    func skipped() throws {
        let r = SelfTelemetry.Recorder(temporality: .delta, resource: Self.resource, startTime: T, instanceID: "i-1")
        var a = Self.pass("requests")
        a.pointsSkipped = 30
        r.record(a, duration: .milliseconds(10), errorType: nil, now: T + second)
        r.record(Self.pass("tokens"), duration: .milliseconds(10), errorType: nil, now: T + second)
        let batch = try #require(r.report(now: T + 2 * second)).batch
        guard case .sum(_, _, let points)? = Self.metric(batch, SelfTelemetry.pointsSkipped)?.data else {
            Issue.record("no otel_bridge.points.skipped")
            return
        }
        #expect(points.map(\.attributes) == [[Attribute("otel_bridge.pipeline", .string("requests")), Attribute("otel_bridge.skip.reason", .string("max_point_age"))]])
        #expect(points.map(\.value) == [.int(30)])
    }

    @Test("cumulative: totals since the recorder started, unchanged by reports; start time = recorder start")
    func cumulative() throws {
        let r = SelfTelemetry.Recorder(temporality: .cumulative, resource: Self.resource, startTime: T, instanceID: "i-1")
        #expect(r.report(now: T) == nil, "nothing recorded, nothing to report")
        r.record(Self.pass("requests", rows: 100, exported: 40, rejected: 2), duration: .milliseconds(300), errorType: nil, now: T + 10 * second)
        r.record(Self.pass("tokens", rows: 7, exported: 3), duration: .seconds(2), errorType: nil, now: T + 12 * second)
        let first = try #require(r.report(now: T + 20 * second))
        r.acknowledge(first)
        r.record(Self.pass("requests", rows: 50, exported: 20), duration: .seconds(45), errorType: nil, now: T + 70 * second)
        let batch = r.batch(now: T + 80 * second)
        #expect(Self.sums(batch, SelfTelemetry.rowsRead) == ["requests": 150, "tokens": 7])
        #expect(Self.sums(batch, SelfTelemetry.pointsExported) == ["requests": 60, "tokens": 3])
        #expect(Self.sums(batch, SelfTelemetry.pointsRejected) == ["requests": 2, "tokens": 0])
        guard case .sum(_, let temporality, let points)? = Self.metric(batch, SelfTelemetry.rowsRead)?.data else { Issue.record("no sum"); return }
        #expect(temporality == .cumulative)
        #expect(points.allSatisfy { $0.startTimeUnixNano == UInt64(T) && $0.timeUnixNano == UInt64(T + 80 * second) })
        guard case .histogram(.cumulative, let durations)? = Self.metric(batch, SelfTelemetry.passDuration)?.data else { Issue.record("no histogram"); return }
        let requests = try #require(durations.first { $0.attributes == [Attribute("otel_bridge.pipeline", .string("requests"))] })
        #expect(requests.count == 2)
        #expect(requests.sum == 45.3)
        #expect(requests.min == 0.3 && requests.max == 45)
        #expect(requests.explicitBounds == SelfTelemetry.durationBounds)
        // 0.3 s in (0.1, 0.5], 45 s in (30, 60].
        #expect(requests.bucketCounts == [0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        #expect(batch.metrics.first { $0.name == SelfTelemetry.passFailures.name } == nil, "no failure yet")
    }

    @Test("delta: each report carries what happened since the last acknowledged one; an unacknowledged report's values come back")
    func delta() throws {
        let r = SelfTelemetry.Recorder(temporality: .delta, resource: Self.resource, startTime: T)
        r.record(Self.pass("requests", rows: 100, exported: 40), duration: .seconds(1), errorType: nil, now: T + 10 * second)
        let first = try #require(r.report(now: T + 20 * second))
        #expect(Self.sums(first.batch, SelfTelemetry.rowsRead) == ["requests": 100])
        r.acknowledge(first)

        r.record(Self.pass("requests", rows: 5, exported: 2), duration: .seconds(1), errorType: nil, now: T + 30 * second)
        let lost = try #require(r.report(now: T + 40 * second))
        #expect(Self.sums(lost.batch, SelfTelemetry.rowsRead) == ["requests": 5])
        r.abandon(lost)

        r.record(Self.pass("requests", .failed, rows: 1, error: "query failed: pipeline requests: boom"), duration: .seconds(3),
                 errorType: "query", now: T + 50 * second)
        let next = try #require(r.report(now: T + 60 * second))
        #expect(Self.sums(next.batch, SelfTelemetry.rowsRead) == ["requests": 6], "the lost report's 5 rows and the new 1")
        #expect(Self.sums(next.batch, SelfTelemetry.pointsExported) == ["requests": 2])
        #expect(Self.sums(next.batch, SelfTelemetry.passFailures) == ["requests/query": 1])
        guard case .sum(_, .delta, let points)? = Self.metric(next.batch, SelfTelemetry.rowsRead)?.data else { Issue.record("not delta"); return }
        #expect(points.map(\.startTimeUnixNano) == [UInt64(T + 20 * second)], "the interval starts where the lost report's did")
        #expect(points.map(\.timeUnixNano) == [UInt64(T + 60 * second)])
        guard case .histogram(.delta, let durations)? = Self.metric(next.batch, SelfTelemetry.passDuration)?.data else { Issue.record("no histogram"); return }
        #expect(durations.map(\.count) == [2])
        r.acknowledge(next)

        // Nothing since: zero counters, no duration point, no failure point.
        let idle = try #require(r.report(now: T + 80 * second))
        #expect(Self.sums(idle.batch, SelfTelemetry.rowsRead) == ["requests": 0])
        #expect(Self.metric(idle.batch, SelfTelemetry.passDuration) == nil)
        #expect(Self.metric(idle.batch, SelfTelemetry.passFailures) == nil)
    }

    @Test("failures are counted by error.type: the summary's BridgeError code")
    func failures() throws {
        let codes: [(BridgeError.Code, String)] = [(.configuration, "configuration"), (.template, "template"), (.query, "query"),
                                                   (.result, "result"), (.export, "export"), (.checkpoint, "checkpoint")]
        for (code, name) in codes {
            let summary = Self.pass("p", .failed, error: BridgeError(code, "it broke", pipeline: "p", file: "q.sql").description, code: code)
            #expect(SelfTelemetry.errorType(of: summary) == name)
        }
        #expect(SelfTelemetry.errorType(of: Self.pass("p")) == nil)
        #expect(SelfTelemetry.errorType(of: Self.pass("p", .failed, error: "something else")) == "_OTHER")

        let r = SelfTelemetry.Recorder(temporality: .cumulative, resource: Self.resource, startTime: T)
        for error in ["query", "query", "export"] {
            r.record(Self.pass("requests", .failed), duration: .seconds(1), errorType: error, now: T)
        }
        r.record(Self.pass("tokens", .failed), duration: .seconds(1), errorType: "result", now: T)
        r.record(Self.pass("tokens"), duration: .seconds(1), errorType: nil, now: T)
        r.recordFailure(pipelines: ["cost"], errorType: "checkpoint")
        #expect(Self.sums(r.batch(now: T), SelfTelemetry.passFailures)
                == ["requests/export": 1, "requests/query": 2, "tokens/result": 1, "cost/checkpoint": 1])
    }

    @Test("lag: now minus the last known watermark, in seconds; a skipped pass counts nothing and drops its pipeline's lag")
    func lag() throws {
        let r = SelfTelemetry.Recorder(temporality: .cumulative, resource: Self.resource, startTime: T)
        r.record(Self.pass("requests", watermark: T - 180 * second), duration: .seconds(1), errorType: nil, now: T)
        r.record(Self.pass("tokens", watermark: T - 3_600 * second + 500_000_000), duration: .seconds(1), errorType: nil, now: T)
        func lags(_ now: Int64) -> [String: Double] {
            guard case .gauge(let points)? = Self.metric(r.batch(now: now), SelfTelemetry.watermarkLag)?.data else { return [:] }
            return Dictionary(uniqueKeysWithValues: points.map { p -> (String, Double) in
                guard case .string(let name) = p.attributes[0].value, case .double(let v) = p.value else { return ("?", -1) }
                #expect(p.timeUnixNano == UInt64(now))
                return (name, v)
            })
        }
        #expect(lags(T) == ["requests": 180, "tokens": 3_599.5])
        #expect(lags(T + 60 * second) == ["requests": 240, "tokens": 3_659.5], "a watermark that does not move lags more and more")

        // A failure keeps the watermark it ended with; a checkpoint failure keeps the last one known.
        r.record(Self.pass("requests", .failed, watermark: T - 120 * second), duration: .seconds(1), errorType: "export", now: T)
        r.record(Self.pass("tokens", .failed, watermark: T - 999_999 * second), duration: .seconds(1), errorType: "checkpoint", now: T)
        #expect(lags(T) == ["requests": 120, "tokens": 3_599.5])

        let before = Self.sums(r.batch(now: T), SelfTelemetry.rowsRead)
        r.record(Self.pass("tokens", .skipped, rows: 99), duration: .seconds(1), errorType: nil, now: T)
        #expect(lags(T) == ["requests": 120])
        #expect(Self.sums(r.batch(now: T), SelfTelemetry.rowsRead) == before)
    }

    @Test("the self-telemetry resource adds service.instance.id; the rollups' resource does not have it")
    func resource() throws {
        let env = ["OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod", "OTEL_SERVICE_NAME": "bridge-a"]
        let configuration = try BridgeConfiguration(environment: env)
        let bridge = Bridge(configuration: configuration, pipelines: [], logger: Logger(label: "test"), now: { T })
        #expect(!configuration.resource.contains { $0.key == "service.instance.id" }, "the rollups are sent with this resource")
        bridge.telemetry.record(Self.pass("requests"), duration: .seconds(1), errorType: nil, now: T)
        let batch = bridge.telemetry.batch(now: T)
        let ids = batch.resource.filter { $0.key == "service.instance.id" }
        #expect(ids.count == 1)
        guard case .string(let id)? = ids.first?.value else { Issue.record("no id"); return }
        #expect(UUID(uuidString: id) != nil)
        #expect(Array(batch.resource.dropLast()) == configuration.resource, "the configured resource, then the instance id")
        #expect(batch.scope == InstrumentationScope(name: "otel-bridge", version: BridgeConfiguration.version))
        let other = Bridge(configuration: configuration, pipelines: [], logger: Logger(label: "test"), now: { T })
        #expect(other.telemetry.resource.last != bridge.telemetry.resource.last, "each process its own id")

        // An operator's own service.instance.id (a pod name) is kept, and then the rollups carry it too.
        let own = SelfTelemetry.Recorder(temporality: .cumulative, resource: [Attribute("service.instance.id", .string("pod-1"))], startTime: T)
        #expect(own.resource == [Attribute("service.instance.id", .string("pod-1"))])
    }

    @Test("passes recorded from many threads at once all count")
    func concurrent() async {
        let r = SelfTelemetry.Recorder(temporality: .delta, resource: Self.resource, startTime: T)
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    for _ in 0..<500 {
                        r.record(Self.pass("p\(i % 2)", rows: 1), duration: .milliseconds(1), errorType: nil, now: T)
                        if i == 0, let report = r.report(now: T) { r.abandon(report) }
                    }
                }
            }
        }
        #expect(Self.sums(r.batch(now: T), SelfTelemetry.rowsRead) == ["p0": 2_000, "p1": 2_000])
    }

    @Test("BRIDGE_SELF_TELEMETRY: on by default, a boolean, anything else a configuration error naming it")
    func configuration() throws {
        #expect(try BridgeConfiguration(environment: [:]).selfTelemetry)
        #expect(try BridgeConfiguration(environment: ["BRIDGE_SELF_TELEMETRY": "false"]).selfTelemetry == false)
        #expect(try BridgeConfiguration(environment: ["BRIDGE_SELF_TELEMETRY": "TRUE"]).selfTelemetry)
        let error = try #require(captureError { () throws(BridgeError) in try BridgeConfiguration(environment: ["BRIDGE_SELF_TELEMETRY": "off-ish"]) })
        #expect(error.code == .configuration && error.key == "BRIDGE_SELF_TELEMETRY")
        #expect(error.description.contains("BRIDGE_SELF_TELEMETRY"))
    }
}
