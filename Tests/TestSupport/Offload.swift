import Foundation
import Synchronization

/// Runs blocking work (libcurl transfers, libpq calls, the exporter's sleeps) on a thread of its
/// own, off Swift's cooperative pool, and returns its outcome.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> Result<T, any Error> {
    await withCheckedContinuation { continuation in
        let thread = Thread {
            continuation.resume(returning: Result { try body() })
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
}

/// Runs `bodies` on their own threads at the same time and waits for all of them.
public func runConcurrently(_ bodies: [@Sendable () -> Void]) {
    let group = DispatchGroup()
    for body in bodies {
        group.enter()
        Thread.detachNewThread {
            body()
            group.leave()
        }
    }
    group.wait()
}

extension Result {
    /// The error of a failure, `nil` for a success.
    public var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Values that code running on other threads hands back to the test (the exporter's `sleep`
/// calls, log records, printed lines).
public final class Collected<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])

    public init() {}

    public func append(_ value: Value) {
        storage.withLock { $0.append(value) }
    }

    public var values: [Value] { storage.withLock { $0 } }
}
