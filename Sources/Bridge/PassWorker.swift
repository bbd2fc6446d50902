import Dispatch
import Foundation
import Rollup
import Synchronization

/// One long-lived thread that runs jobs one after another, in the order they were submitted, fed
/// through a small queue. A pass hands it its blocking steps (a delivery, a commit) and reads
/// ahead meanwhile (``PassRunner``); `serve`'s schedules also run their passes on one
/// (``PipelineSchedule``). The thread ends once the worker is closed (or released) and its
/// queue is empty.
package final class PassWorker: Sendable {
    private let queue: JobQueue

    /// Starts the thread, named `name` (as `top -H` and a debugger show it).
    package init(name: String) {
        let queue = JobQueue()
        self.queue = queue
        let thread = Thread {
            Thread.current.name = name  // named from inside: on Linux a name set before start is not applied
            queue.loop()
        }
        thread.stackSize = 4 << 20
        thread.start()
    }

    deinit { queue.close() }

    /// Runs `work` on the worker's thread once the jobs before it are done.
    package func submit<T: Sendable>(_ work: @escaping @Sendable () throws(BridgeError) -> T) -> WorkerJob<T> {
        let job = WorkerJob<T>()
        queue.push { job.finish(Result { () throws(BridgeError) -> T in try work() }) }
        return job
    }

    /// Runs `body` on the worker's thread (no thread waits for it).
    package func post(_ body: @escaping @Sendable () -> Void) { queue.push(body) }

    /// No more jobs: the thread ends once those queued are done.
    package func close() { queue.close() }
}

/// The result of one job of a ``PassWorker``, once it is done.
package final class WorkerJob<T: Sendable>: Sendable {
    private let result = Mutex<Result<T, BridgeError>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    fileprivate func finish(_ r: Result<T, BridgeError>) {
        result.withLock { $0 = r }
        done.signal()
    }

    /// Whether the job is done (never blocks).
    package var isDone: Bool { result.withLock { $0 != nil } }

    /// Blocks until the job is done; its value or error.
    package func wait() throws(BridgeError) -> T {
        done.wait()
        done.signal()  // a second wait returns at once
        return try result.withLock { $0! }.get()
    }
}

/// The worker's queue: jobs in order, and whether it is closed.
private final class JobQueue: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var closed = false
    }

    private let state = Mutex(State())
    /// Signalled once per job pushed, and once on close.
    private let ready = DispatchSemaphore(value: 0)

    func push(_ job: @escaping @Sendable () -> Void) {
        let accepted = state.withLock { s in
            guard !s.closed else { return false }
            s.jobs.append(job)
            return true
        }
        precondition(accepted, "a job submitted to a closed worker")
        ready.signal()
    }

    func close() {
        let first = state.withLock { s in
            defer { s.closed = true }
            return !s.closed
        }
        if first { ready.signal() }
    }

    /// The thread's body: each job in turn; returns once closed and empty.
    func loop() {
        while true {
            ready.wait()
            let job: (@Sendable () -> Void)? = state.withLock { s in
                guard s.head < s.jobs.count else { return nil }
                let job = s.jobs[s.head]
                s.head += 1
                if s.head == s.jobs.count {
                    s.jobs.removeAll(keepingCapacity: true)
                    s.head = 0
                }
                return job
            }
            guard let job else { return }  // closed, and every job before the close done
            job()
        }
    }
}
