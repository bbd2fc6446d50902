import Synchronization

/// Tells a pass to stop at its next safe point: before it queries or sends anything more. A
/// push already on the wire finishes (or is abandoned by the caller); nothing unacknowledged is
/// committed.
public final class StopSignal: Sendable {
    private let stopped = Atomic<Bool>(false)

    public init() {}

    public func stop() { stopped.store(true, ordering: .releasing) }
    public var isStopped: Bool { stopped.load(ordering: .acquiring) }
}
