/// What a batch is made of: a bucket's points (rollups), a row's span (GenAI traces).
package protocol BatchItem: Sendable {
    /// What counts against the request's item limit (`max_points_per_request`, `max_spans_per_request`).
    var itemCount: Int { get }
    /// What counts against the request's byte budget.
    var byteCount: Int { get }
}

/// The batching of a pass, apart from its effects: the one place where batches are cut to their
/// limits, and where the read-ahead is decided. ``PassMachine`` (rollups) and `TracePager` (GenAI
/// traces) keep their own policy (windows, late data, gaps, digests; pages and keysets) and
/// delegate the batching to it. No I/O.
///
/// An item goes through three states:
/// 1. **pending**: read and waiting for its batch to fill (``add(_:)``);
/// 2. **in flight**: its batch was taken to be sent and committed (``send()``);
/// 3. **committed**: the commit of its batch is durable (``committed()``).
///
/// **Reading ahead.** While a batch is in flight the runner may read the items that follow, up to
/// about one more batch (``readsAhead``, ``readAhead(_:)``). They wait here, in order, until the
/// batch is committed; then the machine takes them (``nextAhead()``) as it would have read them:
/// it sees the same events in the same order as a pass that does not read ahead. The end of the
/// open query (or a read that failed) stops the read-ahead and waits in the same queue.
package struct Batcher<Item: BatchItem>: Sendable {
    package struct Limits: Sendable, Equatable {
        /// Items one request may hold.
        package var maxItems: Int
        /// Bytes of items one request may hold (the request's limit less its framing).
        package var byteBudget: Int

        package init(maxItems: Int, byteBudget: Int) {
            self.maxItems = maxItems
            self.byteBudget = byteBudget
        }
    }

    /// What was read ahead, in the order it was read.
    package enum Ahead: Sendable {
        case item(Item)
        /// The open query has no more items.
        case end
        /// The read failed (the runner holds the error and reports it here).
        case failed
    }

    package let limits: Limits
    package private(set) var pending: [Item] = []
    package private(set) var pendingItems = 0
    package private(set) var pendingBytes = 0
    /// The batch sent and not yet committed.
    package private(set) var inFlight: [Item]?
    private var ahead: [Item] = []
    private var aheadHead = 0
    private var aheadItems = 0
    private var aheadBytes = 0
    private var aheadStop: Ahead?

    package init(limits: Limits) {
        self.limits = limits
    }

    // MARK: - Pending → in flight → committed

    /// Whether `item` starts a new batch: the pending batch has items and `item` would take it
    /// past the item limit or the byte budget. The only check of the batch limits.
    package func cuts(before item: Item) -> Bool {
        pendingItems > 0 && (pendingItems + item.itemCount > limits.maxItems || pendingBytes + item.byteCount > limits.byteBudget)
    }

    /// `item` joins the pending batch (after the one in flight, if any).
    package mutating func add(_ item: Item) {
        pending.append(item)
        pendingItems += item.itemCount
        pendingBytes += item.byteCount
    }

    /// The pending batch goes in flight (it may be empty: a commit that only moves a watermark).
    package mutating func send() -> [Item] {
        precondition(inFlight == nil, "a batch is already in flight")
        let batch = pending
        pending = []
        pendingItems = 0
        pendingBytes = 0
        inFlight = batch
        return batch
    }

    /// The batch in flight is committed; its items.
    @discardableResult
    package mutating func committed() -> [Item] {
        guard let batch = inFlight else { preconditionFailure("committed without a batch in flight") }
        inFlight = nil
        return batch
    }

    package var isInFlight: Bool { inFlight != nil }

    // MARK: - Read-ahead

    /// Whether the runner may read one more item now: a batch is in flight, the open query has
    /// not ended, and less than one more request's worth was read ahead.
    package var readsAhead: Bool {
        inFlight != nil && aheadStop == nil && aheadItems < limits.maxItems && aheadBytes < limits.byteBudget
    }

    /// An item read while a batch is in flight.
    package mutating func readAhead(_ item: Item) {
        precondition(readsAhead, "read ahead when the batcher does not read ahead")
        ahead.append(item)
        aheadItems += item.itemCount
        aheadBytes += item.byteCount
    }

    /// The open query ended (or its read failed) while reading ahead: nothing more is read ahead
    /// until the machine has taken it.
    package mutating func endReadAhead(failed: Bool) {
        precondition(aheadStop == nil, "the read-ahead already ended")
        aheadStop = failed ? .failed : .end
    }

    /// What was read ahead next, in order, once no batch is in flight; `nil` when nothing was
    /// (the runner reads from the source).
    package mutating func nextAhead() -> Ahead? {
        precondition(inFlight == nil, "read ahead items taken while a batch is in flight")
        if aheadHead < ahead.count {
            let item = ahead[aheadHead]
            aheadHead += 1
            aheadItems -= item.itemCount
            aheadBytes -= item.byteCount
            if aheadHead == ahead.count {
                ahead.removeAll(keepingCapacity: true)
                aheadHead = 0
            }
            return .item(item)
        }
        defer { aheadStop = nil }
        return aheadStop
    }

    /// Items read ahead and not taken yet.
    package var aheadCount: Int { ahead.count - aheadHead }

    // MARK: - Requests

    /// `parts` packed in order into requests of at most the byte budget each (a part larger than
    /// the budget goes alone).
    package static func pack<Part>(_ parts: some Sequence<Part>, budget: Int, bytes: (Part) -> Int) -> [[Part]] {
        var requests: [[Part]] = []
        var current: [Part] = []
        var size = 0
        for part in parts {
            let n = bytes(part)
            if !current.isEmpty && size + n > budget {
                requests.append(current)
                current = []
                size = 0
            }
            current.append(part)
            size += n
        }
        if !current.isEmpty { requests.append(current) }
        return requests
    }
}
