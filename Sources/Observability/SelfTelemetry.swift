import Foundation
import Synchronization
import OTLP
import Rollup

/// The bridge's own health, exported as OTLP metrics to the metrics endpoint beside the rollups,
/// so an operator alerts on a stalled export in the backend they already use.
///
/// Every instrument carries `otel_bridge.pipeline` (the pipeline's name); failures also carry
/// `error.type` (the error's code: configuration, template, query, result, export, checkpoint).
/// `deploy/` queries these by their Prometheus names (`otel_bridge_watermark_lag_seconds`, …); a
/// test checks the translation.
public enum SelfTelemetry {
    public struct Instrument: Sendable, Equatable {
        public enum Kind: String, Sendable { case counter, gauge, histogram }
        public var name: String
        public var unit: String
        public var kind: Kind
        public var description: String
    }

    public static let passDuration = Instrument(
        name: "otel_bridge.pass.duration", unit: "s", kind: .histogram,
        description: "Wall time of one pass of a pipeline, from lock to unlock.")
    public static let rowsRead = Instrument(
        name: "otel_bridge.rows.read", unit: "{row}", kind: .counter,
        description: "Result rows read from ClickHouse.")
    public static let pointsExported = Instrument(
        name: "otel_bridge.points.exported", unit: "{point}", kind: .counter,
        description: "Data points acknowledged by the OTLP receiver.")
    public static let pointsRejected = Instrument(
        name: "otel_bridge.points.rejected", unit: "{point}", kind: .counter,
        description: "Data points the receiver reported as rejected in a partial success.")
    public static let passFailures = Instrument(
        name: "otel_bridge.pass.failures", unit: "{failure}", kind: .counter,
        description: "Passes that failed, by error.type.")
    public static let watermarkLag = Instrument(
        name: "otel_bridge.watermark.lag", unit: "s", kind: .gauge,
        description: "Seconds the pipeline's watermark is behind now.")

    public static let lateFolded = Instrument(
        name: "otel_bridge.late.folded", unit: "{change}", kind: .counter,
        description: "Late rows folded into the export: series whose exported bucket changed, their difference added to the series' next point.")
    public static let lateUnfolded = Instrument(
        name: "otel_bridge.late.unfolded", unit: "{change}", kind: .counter,
        description: "Late changes found but not folded: a count that went down, a series gone, a bucket exported without stored values.")

    public static let pointsSkipped = Instrument(
        name: "otel_bridge.points.skipped", unit: "{point}", kind: .counter,
        description: "Points not sent, the watermark passing their buckets, by otel_bridge.skip.reason (max_point_age).")

    /// Every instrument, in the order they are exported.
    public static let instruments = [passDuration, rowsRead, pointsExported, pointsRejected, passFailures, watermarkLag, lateFolded, lateUnfolded,
                                     pointsSkipped]
}

// MARK: - Recording

extension SelfTelemetry {
    /// Upper bounds (seconds) of the ``passDuration`` histogram's buckets: a pass of a few
    /// buckets takes well under a second, a backfill or a receiver in retry minutes.
    public static let durationBounds: [Double] = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

    /// The `error.type` of a failed pass: its ``BridgeError`` code (`configuration`, `template`,
    /// `query`, `result`, `export`, `checkpoint`), read from the summary's error, which starts with
    /// the code's description. `_OTHER` (the semantic conventions' fallback) if none matches; `nil`
    /// for a pass that did not fail.
    public static func errorType(of summary: PassSummary) -> String? {
        guard summary.status == .failed else { return nil }
        guard let code = summary.errorCode else { return "_OTHER" }
        return errorTypes.first { $0.0 == code }?.1 ?? "_OTHER"
    }

    /// The codes a pass can fail with, and their `error.type` values.
    static let errorTypes: [(BridgeError.Code, String)] = [
        (.configuration, "configuration"), (.template, "template"), (.query, "query"),
        (.result, "result"), (.export, "export"), (.checkpoint, "checkpoint"), (.usage, "usage"),
    ]

    /// What a pipeline's passes added up to over an interval: the counters' values, the duration
    /// histogram's buckets.
    struct Tally: Sendable, Equatable {
        var rowsRead: Int64 = 0
        var pointsExported: Int64 = 0
        var pointsRejected: Int64 = 0
        var lateFolded: Int64 = 0
        var lateUnfolded: Int64 = 0
        /// Points skipped by reason.
        var skipped: [String: Int64] = [:]
        var failures: [String: Int64] = [:]
        var durationCounts = [UInt64](repeating: 0, count: SelfTelemetry.durationBounds.count + 1)
        var durationCount: UInt64 = 0
        var durationSum: Double = 0
        var durationMin: Double?
        var durationMax: Double?

        mutating func add(duration seconds: Double) {
            // Bucket i holds (bounds[i-1], bounds[i]]; the last one everything above.
            let i = SelfTelemetry.durationBounds.firstIndex { seconds <= $0 } ?? SelfTelemetry.durationBounds.count
            durationCounts[i] += 1
            durationCount += 1
            durationSum += seconds
            durationMin = Swift.min(durationMin ?? seconds, seconds)
            durationMax = Swift.max(durationMax ?? seconds, seconds)
        }

        /// Both intervals as one: exact for every value (counts add, min/max are kept).
        mutating func merge(_ other: Tally) {
            rowsRead &+= other.rowsRead
            pointsExported &+= other.pointsExported
            pointsRejected &+= other.pointsRejected
            lateFolded &+= other.lateFolded
            lateUnfolded &+= other.lateUnfolded
            skipped.merge(other.skipped) { $0 &+ $1 }
            failures.merge(other.failures) { $0 &+ $1 }
            for i in durationCounts.indices { durationCounts[i] &+= other.durationCounts[i] }
            durationCount &+= other.durationCount
            durationSum += other.durationSum
            if let m = other.durationMin { durationMin = Swift.min(durationMin ?? m, m) }
            if let m = other.durationMax { durationMax = Swift.max(durationMax ?? m, m) }
        }
    }

    /// A report built by ``Recorder/report(now:)``: the request to send, and what the recorder
    /// must be told once it was acknowledged (``Recorder/acknowledge(_:)``) or not
    /// (``Recorder/abandon(_:)``).
    public struct Report: Sendable {
        public var batch: MetricBatch
        /// Under delta temporality, the tallies this report carries (taken out of the pending ones).
        let inFlight: [String: Tally]
        let intervalStart: Int64
    }

    /// Accumulates the bridge's own health per pipeline and turns it into OTLP metrics. One lives
    /// in each ``Bridge``, so a long-running process keeps its totals across passes; passes of
    /// several threads record into it at once.
    ///
    /// What a pass counts:
    /// - `ok` and `failed` passes: their duration, rows read, points exported and rejected (a
    ///   failed pass may have read rows and had batches acknowledged before it failed); a failed
    ///   one also one failure under its `error.type`. The watermark they end with sets the lag.
    /// - `skipped` passes (another run held the pipeline's lock) count nothing: the run holding
    ///   the lock reports the pass. Their pipeline's lag is dropped from this recorder's reports
    ///   until it runs the pipeline again, so a replica that stands by never reports a watermark
    ///   that another replica moved since.
    /// - A failed pass whose error is `checkpoint` may not have read the watermark: the lag keeps
    ///   the last watermark known (and so keeps growing while the store is out of reach).
    ///
    /// Counters are monotonic sums and the duration a histogram, in the configured temporality:
    /// cumulative totals since the recorder was created (`start_time_unix_nano` = that time), or
    /// deltas since the last acknowledged report (what a report that was not acknowledged carried
    /// goes into the next one). The lag is a gauge: the report's `now` minus the last watermark.
    ///
    /// Thread-safe: every state change happens under the `state` mutex, and reports are sent one
    /// at a time (``Bridge`` holds `reporting` while it sends one), so delta intervals follow each other.
    public final class Recorder: Sendable {
        public let temporality: AggregationTemporality
        /// The configured resource plus `service.instance.id`.
        public let resource: [Attribute]
        /// When the cumulative totals started (Unix ns).
        public let startTime: Int64
        /// Held by whoever builds, sends and settles a report.
        package let reporting = NSLock()
        private let state: Mutex<State>

        private struct State {
            var totals: [String: Tally] = [:]
            var pending: [String: Tally] = [:]
            var pendingSince: Int64
            var watermarks: [String: Int64] = [:]
            /// Pipelines in the order they were first recorded (reports list them in that order).
            var order: [String] = []
        }

        /// `resource` is the rollups' resource; a `service.instance.id` is added unless it has one
        /// (`instanceID`, a random UUID by default), so two processes never write the same series.
        public init(temporality: AggregationTemporality, resource: [Attribute], startTime: Int64,
                    instanceID: String = UUID().uuidString.lowercased()) {
            self.temporality = temporality
            self.resource = resource.contains { $0.key == "service.instance.id" }
                ? resource : resource + [Attribute("service.instance.id", .string(instanceID))]
            self.startTime = startTime
            self.state = Mutex(State(pendingSince: startTime))
        }

        /// Records one pass of `summary.pipeline` that took `duration` and ended at `now`.
        /// `errorType` is the failure's `error.type` (``SelfTelemetry/errorType(of:)``).
        public func record(_ summary: PassSummary, duration: Duration, errorType: String?, now: Int64) {
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            state.withLock { s in
                let name = summary.pipeline
                if summary.status == .skipped {
                    s.watermarks[name] = nil
                    return
                }
                var pass = Tally()
                pass.rowsRead = summary.rowsRead
                pass.pointsExported = summary.pointsExported
                pass.pointsRejected = summary.pointsRejected
                pass.lateFolded = Int64(summary.lateFolded)
                pass.lateUnfolded = Int64(summary.lateUnfolded)
                if summary.pointsSkipped > 0 { pass.skipped["max_point_age"] = summary.pointsSkipped }
                if summary.status == .failed { pass.failures[errorType ?? "_OTHER"] = 1 }
                pass.add(duration: max(0, seconds))
                if s.totals[name] == nil { s.order.append(name) }
                s.totals[name, default: Tally()].merge(pass)
                s.pending[name, default: Tally()].merge(pass)
                if summary.status == .ok || errorType != "checkpoint" || s.watermarks[name] == nil {
                    s.watermarks[name] = summary.watermarkAfter
                }
            }
        }

        /// Records a failure of each of `pipelines` that happened before their pass could start
        /// (the checkpoint store out of reach, say): one failure each, no duration, no lag.
        public func recordFailure(pipelines: [String], errorType: String) {
            state.withLock { s in
                for name in pipelines {
                    var pass = Tally()
                    pass.failures[errorType] = 1
                    if s.totals[name] == nil { s.order.append(name) }
                    s.totals[name, default: Tally()].merge(pass)
                    s.pending[name, default: Tally()].merge(pass)
                }
            }
        }

        /// The points as of `now`, without changing anything (what ``report(now:)`` would send).
        public func batch(now: Int64) -> MetricBatch {
            state.withLock { s in
                makeBatch(s, now: now, tallies: temporality == .delta ? s.pending : s.totals, intervalStart: temporality == .delta ? s.pendingSince : startTime)
            }
        }

        /// The report to send now, or `nil` if no pass was recorded yet. Under delta temporality
        /// the pending tallies go with it: settle it with ``acknowledge(_:)`` or ``abandon(_:)``.
        public func report(now: Int64) -> Report? {
            state.withLock { s in
                guard !s.order.isEmpty else { return nil }
                switch temporality {
                case .cumulative:
                    return Report(batch: makeBatch(s, now: now, tallies: s.totals, intervalStart: startTime), inFlight: [:], intervalStart: startTime)
                case .delta:
                    let report = Report(batch: makeBatch(s, now: now, tallies: s.pending, intervalStart: s.pendingSince), inFlight: s.pending, intervalStart: s.pendingSince)
                    s.pending = [:]
                    s.pendingSince = now
                    return report
                }
            }
        }

        /// The receiver acknowledged `report`: its deltas are done with.
        public func acknowledge(_ report: Report) {}

        /// `report` was not acknowledged: its deltas go back into the next report, whose interval
        /// then starts where this one's did.
        public func abandon(_ report: Report) {
            guard temporality == .delta else { return }
            state.withLock { s in
                for (name, tally) in report.inFlight {
                    var merged = tally
                    merged.merge(s.pending[name] ?? Tally())
                    s.pending[name] = merged
                }
                s.pendingSince = min(s.pendingSince, report.intervalStart)
            }
        }

        private func makeBatch(_ s: State, now: Int64, tallies: [String: Tally], intervalStart: Int64) -> MetricBatch {
            let order = s.order, totals = s.totals, watermarks = s.watermarks
            let start = UInt64(clamping: intervalStart), time = UInt64(clamping: max(now, intervalStart))
            func attributes(_ pipeline: String) -> [Attribute] { [Attribute("otel_bridge.pipeline", .string(pipeline))] }
            func counter(_ value: (Tally) -> Int64) -> [NumberPoint] {
                order.map { NumberPoint(attributes: attributes($0), startTimeUnixNano: start, timeUnixNano: time, value: .int(value(tallies[$0] ?? Tally()))) }
            }
            var durations: [HistogramPoint] = []
            var failures: [NumberPoint] = []
            var lags: [NumberPoint] = []
            var skipped: [NumberPoint] = []
            for name in order {
                let t = tallies[name] ?? Tally()
                // Under delta an interval without a pass has no duration and no failure to report.
                if temporality == .cumulative || t.durationCount > 0 {
                    durations.append(HistogramPoint(
                        attributes: attributes(name), startTimeUnixNano: start, timeUnixNano: time, count: t.durationCount,
                        sum: t.durationSum, bucketCounts: t.durationCounts, explicitBounds: SelfTelemetry.durationBounds,
                        min: t.durationMin, max: t.durationMax))
                }
                let types = temporality == .cumulative ? totals[name]?.failures ?? [:] : t.failures
                for (type, _) in types.sorted(by: { $0.key < $1.key }) {
                    failures.append(NumberPoint(attributes: attributes(name) + [Attribute("error.type", .string(type))],
                                                startTimeUnixNano: start, timeUnixNano: time, value: .int(t.failures[type] ?? 0)))
                }
                let reasons = temporality == .cumulative ? totals[name]?.skipped ?? [:] : t.skipped
                for (reason, _) in reasons.sorted(by: { $0.key < $1.key }) {
                    skipped.append(NumberPoint(attributes: attributes(name) + [Attribute("otel_bridge.skip.reason", .string(reason))],
                                               startTimeUnixNano: start, timeUnixNano: time, value: .int(t.skipped[reason] ?? 0)))
                }
                if let watermark = watermarks[name] {
                    lags.append(NumberPoint(attributes: attributes(name), startTimeUnixNano: 0, timeUnixNano: UInt64(clamping: now),
                                            value: .double(Double(now - watermark) / 1e9)))
                }
            }
            func metric(_ instrument: Instrument, _ data: MetricData) -> Metric {
                Metric(name: instrument.name, description: instrument.description, unit: instrument.unit, data: data)
            }
            var metrics = [
                metric(SelfTelemetry.passDuration, .histogram(temporality: temporality, points: durations)),
                metric(SelfTelemetry.rowsRead, .sum(isMonotonic: true, temporality: temporality, points: counter(\.rowsRead))),
                metric(SelfTelemetry.pointsExported, .sum(isMonotonic: true, temporality: temporality, points: counter(\.pointsExported))),
                metric(SelfTelemetry.pointsRejected, .sum(isMonotonic: true, temporality: temporality, points: counter(\.pointsRejected))),
                metric(SelfTelemetry.passFailures, .sum(isMonotonic: true, temporality: temporality, points: failures)),
                metric(SelfTelemetry.watermarkLag, .gauge(points: lags)),
                metric(SelfTelemetry.lateFolded, .sum(isMonotonic: true, temporality: temporality, points: counter(\.lateFolded))),
                metric(SelfTelemetry.lateUnfolded, .sum(isMonotonic: true, temporality: temporality, points: counter(\.lateUnfolded))),
                metric(SelfTelemetry.pointsSkipped, .sum(isMonotonic: true, temporality: temporality, points: skipped)),
            ]
            metrics.removeAll { $0.data.pointCount == 0 }
            return MetricBatch(resource: resource, scope: InstrumentationScope(name: "otel-bridge", version: BridgeVersion.current), metrics: metrics)
        }
    }
}
