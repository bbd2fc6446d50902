import Observability
import Bridge
import CurlHTTP
import Foundation
import Logging
import PipelineConfig
import Rollup
import ServiceLifecycle
import Synchronization
import UTCTime

/// What the health endpoint reports, shared by the pipelines' schedules.
public final class HealthState: Sendable {
    private struct State {
        var storeReached = false
        var draining = false
        var lastError: String?
    }

    private let state = Mutex(State())

    public init() {}

    /// A pass reached the checkpoint store (or failed to: `error`).
    func reachedStore(_ ok: Bool, error: String? = nil) {
        state.withLock {
            $0.storeReached = ok
            $0.lastError = ok ? nil : error
        }
    }

    func startDraining() { state.withLock { $0.draining = true } }

    /// Ready: the configuration is loaded, the checkpoint store answered the last pass, and no
    /// shutdown has begun. Otherwise the reason.
    public var readiness: (ready: Bool, reason: String) {
        state.withLock { s in
            if s.draining { return (false, "shutting down") }
            if !s.storeReached { return (false, s.lastError.map { "checkpoint store not reached: \($0)" } ?? "no pass has reached the checkpoint store yet") }
            return (true, "ready")
        }
    }
}

/// Every pipeline on its own schedule, all stopping together on a graceful shutdown.
struct Scheduler: Service {
    let bridge: Bridge
    let pipelines: [PipelineConfiguration]
    let health: HealthState
    let logger: Logger

    func run() async throws {
        guard !pipelines.isEmpty || bridge.configuration.genAITraces.enabled else {
            // Nothing enabled: stay up until told to stop (a service that returns ends the group).
            try? await gracefulShutdown()
            return
        }
        guard await checkSchema() else { return }  // shut down before the store answered
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for pipeline in pipelines {
                    group.addTask {
                        await PipelineSchedule.rollup(pipeline, bridge: bridge, health: health, logger: logger).run()
                    }
                }
                if bridge.configuration.genAITraces.enabled {
                    group.addTask { await PipelineSchedule.genAITraces(bridge: bridge, health: health, logger: logger).run() }
                }
            }
        } onGracefulShutdown: {
            health.startDraining()
        }
    }

    /// Checks the checkpoint schema's migrations once, before the first pass (the schedules'
    /// connections then skip it), retrying with the schedules' backoff while the store cannot be
    /// reached: a lost Postgres is never fatal. False when shut down first.
    private func checkSchema() async -> Bool {
        var failures = 0
        let worker = PassWorker(name: "schema-check")
        defer { worker.close() }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await Bridge.offloadCancellable(on: worker) { [bridge] in try bridge.openStore(migrate: true).connection.close() }
                return true
            } catch is CancellationError {
                return false
            } catch {
                failures += 1
                let text = bridge.redact("\(error)")
                health.reachedStore(false, error: text)
                logger.error("the checkpoint schema could not be checked; retrying", metadata: ["error": "\(text)"])
                let wait = PipelineSchedule.backoff(failures: failures)
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .nanoseconds(wait)) }
            }
        }
        return false
    }
}

/// One pipeline on its own schedule, its passes on a long-lived thread of its own (``thread``),
/// so a slow query or a receiver in retry delays no other pipeline: a rollup's pass when its next bucket closes (aligned to its
/// step, after its lag), the traces' every few seconds. Failures are retried with backoff, never
/// fatal to the process. The schedule keeps its Postgres connection and its exporter across
/// passes (``PassResources``): a connection that broke is made again by the next pass, and the
/// exporter remembers an endpoint that is down; with them goes the worker thread that runs its
/// passes' deliveries and commits.
struct PipelineSchedule {
    let name: String
    /// The thread the schedule's passes run on, one after another, kept across passes.
    let thread: PassWorker
    let bridge: Bridge
    let health: HealthState
    let logger: Logger
    /// One pass, told to stop at its next safe point by the signal; nil when none ran.
    let pass: @Sendable (StopSignal) throws -> PassSummary?
    /// When the next pass is due after one that succeeded at `now`.
    let nextRun: @Sendable (_ now: Int64) -> Int64

    /// A rollup pipeline: a pass when its next bucket closes.
    static func rollup(_ pipeline: PipelineConfiguration, bridge: Bridge, health: HealthState, logger: Logger) -> PipelineSchedule {
        let planner = WindowPlanner(stepSeconds: pipeline.stepSeconds, lagSeconds: pipeline.lagSeconds, maxBucketsPerQuery: 1)
        let name = pipeline.name
        let resources = PassResources(migrates: false)  // checked once, at start
        return PipelineSchedule(
            name: name, thread: PassWorker(name: threadName(name)), bridge: bridge, health: health, logger: logger,
            pass: { stop in try bridge.run(only: [name], stop: stop, recordSkips: false, resources: resources).first },
            // The bucket after the last closed one closes at its end plus the lag.
            nextRun: { now in planner.closedUntil(now: now) + planner.step + planner.lagSeconds * 1_000_000_000 })
    }

    /// The GenAI traces: rows become exportable continuously (now − lag), so a pass every quarter
    /// of the lag (5–60 s; 30 s with the default lag) keeps spans at most 1.25 × lag behind
    /// without idle queries.
    static func genAITraces(bridge: Bridge, health: HealthState, logger: Logger) -> PipelineSchedule {
        let interval = traceInterval(lagSeconds: bridge.configuration.genAITraces.lagSeconds) * 1_000_000_000
        let resources = PassResources(migrates: false)  // checked once, at start
        return PipelineSchedule(
            name: GenAITraceConfiguration.pipeline, thread: PassWorker(name: threadName(GenAITraceConfiguration.pipeline)), bridge: bridge, health: health, logger: logger,
            pass: { stop in try bridge.runTraces(only: [GenAITraceConfiguration.pipeline], stop: stop, recordSkips: false, resources: resources).first },
            nextRun: { now in now + interval })
    }

    /// `pass:` and the pipeline's name, cut to what Linux keeps of a thread's name (15 bytes).
    static func threadName(_ pipeline: String) -> String { String(("pass:" + pipeline).utf8.prefix(15)) ?? "pass" }

    /// Seconds between traces passes.
    static func traceInterval(lagSeconds: Int64) -> Int64 { min(max(lagSeconds / 4, 5), 60) }

    func run() async {
        defer { thread.close() }
        var failures = 0
        var next = bridge.now()  // a first pass at once: catch up
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let wait = next - bridge.now()
            if wait > 0 {
                // Sleeping ends early on a graceful shutdown.
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .nanoseconds(wait)) }
                if Task.isShuttingDownGracefully { break }
            }
            let stop = StopSignal()
            let outcome: Result<PassSummary?, any Error> = await withGracefulShutdownHandler { [pass] in
                do {
                    return .success(try await Bridge.offloadCancellable(on: thread) { try pass(stop) })
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
                health.reachedStore(true)
                next = nextRun(now)
            case .failure(is CancellationError):
                return  // abandoned at shutdown
            case .success(let summary):
                // A failed pass: its summary and the run record say why; retried with backoff.
                failures += 1
                health.reachedStore(summary?.errorCode != .checkpoint, error: summary?.error)
                next = retry(after: now, failures: failures)
            case .failure(let error):
                // The pass could not start (the checkpoint store is unreachable, say).
                failures += 1
                let text = bridge.redact("\(error)")
                health.reachedStore(false, error: text)
                logger.error("pass could not start; retrying", metadata: ["pipeline": "\(name)", "error": "\(text)"])
                next = retry(after: now, failures: failures)
            }
        }
        logger.notice("schedule stopped", metadata: ["pipeline": "\(name)"])
    }

    /// 15 s, 30 s, … up to 5 minutes after a failure, but never later than the next pass was due.
    func retry(after now: Int64, failures: Int) -> Int64 {
        min(nextRun(now), now + Self.backoff(failures: failures))
    }

    /// 15 s, 30 s, … up to 5 minutes after `failures` failures in a row, in nanoseconds.
    static func backoff(failures: Int) -> Int64 {
        min(Int64(15 << min(failures - 1, 5)), 300) * 1_000_000_000
    }
}

extension Bridge {
    /// Runs every enabled pipeline on its own schedule until SIGTERM or SIGINT, then stops within
    /// `serve.shutdownTimeout`: no new pass or batch starts, a push on the wire may finish, and
    /// what was not acknowledged and committed is not (the next run sends it). Returns once every
    /// schedule has stopped.
    public func serve(_ serve: ServeConfiguration) async throws {
        let health = HealthState()
        var services: [any Service] = []
        guard configuration.pushEnabled || configuration.genAITraces.enabled else {
            // Nothing to export: stay up (and ready) so the Deployment is stable, and say why.
            logger.warning("metrics export is disabled: set OTEL_PUSH_ENABLED=true to export; serve runs no pass")
            health.reachedStore(true)
            if serve.healthPort != 0 { services.append(try HealthServer(port: serve.healthPort, health: health, logger: logger)) }
            services.append(Idle())
            try await ServiceGroup(configuration: ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)).run()
            return
        }
        if serve.healthPort != 0 {
            services.append(try HealthServer(port: serve.healthPort, health: health, logger: logger))
        }
        let selected = configuration.pushEnabled ? pipelines.filter(\.enabled) : []
        // Shut down in reverse order: the scheduler first, the health endpoint once it is done.
        services.append(Scheduler(bridge: self, pipelines: selected, health: health, logger: logger))
        var group = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
        // Past the timeout, graceful shutdown becomes cancellation: passes still running are
        // abandoned (their threads are left to the process's exit).
        group.maximumGracefulShutdownDuration = serve.shutdownTimeout
        group.maximumCancellationDuration = .seconds(5)
        logger.notice("serving", metadata: [
            "pipelines": "\(selected.map(\.name).joined(separator: ","))",
            "health_port": "\(serve.healthPort)", "shutdown_timeout": "\(serve.shutdownTimeout.inSeconds)s",
        ])
        try await ServiceGroup(configuration: group).run()
        logger.notice("stopped")
    }

    /// Runs `body` on `thread` (after its earlier jobs); a cancelled task stops waiting for it and
    /// the body is abandoned to finish on its own (a pass only commits what was acknowledged, so
    /// abandoning it loses nothing).
    static func offloadCancellable<T: Sendable>(on thread: PassWorker, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        let once = ResumeOnce<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                once.set(continuation)
                guard !Task.isCancelled else { return once.resume(with: .failure(CancellationError())) }
                thread.post { once.resume(with: Result { try body() }) }
            }
        } onCancel: {
            once.resume(with: .failure(CancellationError()))
        }
    }
}

/// Resumes a continuation once, whichever of the body and the cancellation comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var done = false
    }

    private let state = Mutex(State())

    func set(_ c: CheckedContinuation<T, any Error>) {
        let pending: Result<T, any Error>? = state.withLock { s in
            if s.done { return nil }
            if let early = s.early { s.done = true; return early }
            s.continuation = c
            return nil
        }
        if let pending { c.resume(with: pending) }
    }

    func resume(with result: Result<T, any Error>) {
        let c: CheckedContinuation<T, any Error>? = state.withLock { s in
            if s.done { return nil }
            guard let continuation = s.continuation else { s.early = result; return nil }
            s.done = true
            return continuation
        }
        c?.resume(with: result)
    }
}

/// Waits for the shutdown signal.
private struct Idle: Service {
    func run() async throws { try? await gracefulShutdown() }
}
