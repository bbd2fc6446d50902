import Observability
import Checkpoints
import Bridge
import Rollup
import UTCTime

/// The `checkpoints` commands: what an operator reads and rewinds in the checkpoint store.
extension Bridge {
    /// Every pipeline's watermark and status (pipelines of the file without a checkpoint yet too).
    public func checkpointStatuses() throws(BridgeError) -> [PipelineStatus] {
        let store = try openStore()
        do {
            return try store.statuses()
        } catch {
            throw BridgeError(.checkpoint, "\(error)", underlying: error)
        }
    }

    /// Sets `pipeline`'s watermark to `time` (aligned down to its step). Cumulative series restart
    /// with the new watermark as their start time, so no counter goes backwards under an old start.
    /// Moving the watermark forward skips buckets that were never exported: only with `skipAhead`,
    /// and recorded as a gap (reason `skip-ahead`, `otel_bridge.gaps`). `time` `nil`: the end of
    /// the last closed bucket (with `skipAhead`: past the whole backlog).
    public func rewind(pipeline name: String, to requested: Int64?, skipAhead: Bool = false) throws(BridgeError) -> (watermark: Int64, seriesReset: Int) {
        guard let pipeline = pipelines.first(where: { $0.name == name }) else {
            throw BridgeError(.usage, "no pipeline named '\(name)' in \(configuration.configPath) (pipelines: \(pipelines.map(\.name).joined(separator: ", ")))")
        }
        let planner = WindowPlanner(stepSeconds: pipeline.stepSeconds, lagSeconds: pipeline.lagSeconds, maxBucketsPerQuery: 1)
        guard let time = requested ?? (skipAhead ? planner.closedUntil(now: now()) : nil) else {
            throw BridgeError(.usage, "--to is required (or --skip-ahead alone, to skip to the end of the last closed bucket)", pipeline: name)
        }
        let store = try openStore()
        let aligned = planner.alignDown(time)
        do {
            guard try store.tryLock(pipeline: name) else {
                throw BridgeError(.checkpoint, "pipeline \(name) is running (its lock is held); rewind it once the pass ends", pipeline: name)
            }
            defer { _ = try? store.unlock(pipeline: name) }
            if let current = try store.checkpoint(pipeline: name).map({ $0.watermark.unixNanoseconds }), aligned > current, !skipAhead {
                throw BridgeError(.usage, "--to \(UTCInstant(unixNanoseconds: aligned).iso8601) is after the watermark \(UTCInstant(unixNanoseconds: current).iso8601): the buckets between were never exported and would be skipped; pass --skip-ahead to do that deliberately",
                                  pipeline: name)
            }
            guard aligned <= now() else {
                throw BridgeError(.usage, "--to \(UTCInstant(unixNanoseconds: aligned).iso8601) is in the future", pipeline: name)
            }
            var gap: GapRecord?
            if let current = try store.checkpoint(pipeline: name)?.watermark.unixNanoseconds, aligned > current {
                gap = GapRecord(pipeline: name, rangeStart: UTCInstant(unixNanoseconds: current), rangeEnd: UTCInstant(unixNanoseconds: aligned),
                                buckets: (aligned - current) / planner.step, rows: nil, points: nil, reason: "skip-ahead", policy: "drop")
            }
            let reset = try store.rewind(pipeline: name, to: UTCInstant(unixNanoseconds: aligned), gap: gap)
            logger.notice("rewound", metadata: ["pipeline": "\(name)", "watermark": "\(UTCInstant(unixNanoseconds: aligned).iso8601)", "series_reset": "\(reset)"])
            return (aligned, reset)
        } catch let error as BridgeError {
            throw error
        } catch {
            throw BridgeError(.checkpoint, "\(error)", pipeline: name, underlying: error)
        }
    }
}
