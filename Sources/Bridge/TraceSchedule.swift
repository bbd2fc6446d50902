import Foundation
import Logging
import ServiceLifecycle

/// `serve`'s schedule of the GenAI traces pipeline, beside the rollups' ``PipelineSchedule``s and
/// independent of them: a pass every ``interval(lagSeconds:)`` (a quarter of the lag, 5–60 s; 30 s
/// with the default lag), failures retried with the rollups' backoff (15 s doubling, at most 300 s).
struct TraceSchedule {
    let bridge: Bridge
    let health: HealthState
    let logger: Logger

    /// Seconds between passes: rows become exportable continuously (now − lag), so a pass every
    /// quarter of the lag keeps spans at most 1.25 × lag behind without idle queries.
    static func interval(lagSeconds: Int64) -> Int64 { min(max(lagSeconds / 4, 5), 60) }

    func run() async {
        let pipeline = GenAITraceConfiguration.pipeline
        let interval = Self.interval(lagSeconds: bridge.configuration.genAITraces.lagSeconds) * 1_000_000_000
        var failures = 0
        var next = bridge.now()
        while !Task.isShuttingDownGracefully {
            let wait = next - bridge.now()
            if wait > 0 {
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .nanoseconds(wait)) }
                if Task.isShuttingDownGracefully { break }
            }
            let stop = StopSignal()
            let outcome: Result<PassSummary?, any Error> = await withGracefulShutdownHandler {
                do {
                    return .success(try await Bridge.offloadCancellable { [bridge] in
                        try bridge.runTraces(dryRun: false, only: [pipeline], stop: stop, recordSkips: false).first
                    })
                } catch {
                    return .failure(error)
                }
            } onGracefulShutdown: {
                stop.stop()
            }
            let now = bridge.now()
            switch outcome {
            case .success(let summary?) where summary.status != .failed:
                failures = 0
                next = now + interval
            case .failure(is CancellationError):
                break
            case .success:
                failures += 1
                next = now + min(Int64(15 << min(failures - 1, 5)) * 1_000_000_000, 300 * 1_000_000_000)
            case .failure(let error):
                failures += 1
                logger.error("pass could not start; retrying", metadata: ["pipeline": "\(pipeline)", "error": "\(bridge.redact("\(error)"))"])
                next = now + min(Int64(15 << min(failures - 1, 5)) * 1_000_000_000, 300 * 1_000_000_000)
            }
        }
        logger.notice("schedule stopped", metadata: ["pipeline": "\(pipeline)"])
    }
}
