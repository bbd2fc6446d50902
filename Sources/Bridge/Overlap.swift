import Foundation
import Rollup

/// One blocking step of a pass (a delivery, a commit) run on a thread of its own, so that the
/// pass thread can go on reading and encoding the next buckets meanwhile: the network and
/// Postgres wait while the CPU works. The pass thread polls ``isDone`` between buckets and
/// then takes the result with ``wait()``; the two threads never touch the same object (see
/// `PassDriver.drive`).
final class BackgroundStep<T>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<T, BridgeError>?

    init(_ work: @escaping () throws(BridgeError) -> T) {
        let box = UncheckedBox(work)
        let thread = Thread { [self] in
            let r = Result { () throws(BridgeError) -> T in try box.value() }
            condition.lock()
            result = r
            condition.broadcast()
            condition.unlock()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    var isDone: Bool {
        condition.lock()
        defer { condition.unlock() }
        return result != nil
    }

    /// Blocks until the step is done; its value or error.
    func wait() throws(BridgeError) -> T {
        condition.lock()
        while result == nil { condition.wait() }
        let r = result!
        condition.unlock()
        return try r.get()
    }
}

/// Hands a value the type system cannot prove sendable to the one thread that uses it.
private struct UncheckedBox<V>: @unchecked Sendable {
    let value: V
    init(_ value: V) { self.value = value }
}
