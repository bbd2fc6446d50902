import Testing
@testable import Rollup

/// An item of `n` items and `bytes` bytes, named for the test's reading.
struct BatcherTestItem: BatchItem, Equatable {
    var name: String
    var itemCount: Int
    var byteCount: Int
}

@Suite("Batcher: pending → in flight → committed, and the read-ahead")
struct BatcherTests {
    let limits = Batcher<BatcherTestItem>.Limits(maxItems: 10, byteBudget: 100)

    @Test("an item that would take the batch past either limit starts the next batch; an empty batch takes anything")
    func cuts() {
        var b = Batcher<BatcherTestItem>(limits: limits)
        #expect(!b.cuts(before: BatcherTestItem(name: "huge", itemCount: 50, byteCount: 500)), "a lone item larger than a request goes alone")
        b.add(BatcherTestItem(name: "a", itemCount: 6, byteCount: 40))
        #expect(!b.cuts(before: BatcherTestItem(name: "b", itemCount: 4, byteCount: 60)), "exactly at both limits")
        #expect(b.cuts(before: BatcherTestItem(name: "c", itemCount: 5, byteCount: 10)), "past the item limit")
        #expect(b.cuts(before: BatcherTestItem(name: "d", itemCount: 1, byteCount: 61)), "past the byte budget")
        // Items that count nothing (an empty bucket) never cut a batch that has none.
        var empty = Batcher<BatcherTestItem>(limits: limits)
        empty.add(BatcherTestItem(name: "empty", itemCount: 0, byteCount: 0))
        #expect(!empty.cuts(before: BatcherTestItem(name: "huge", itemCount: 50, byteCount: 500)))
    }

    @Test("send takes the pending batch in flight; what is added meanwhile waits for the next")
    func states() {
        var b = Batcher<BatcherTestItem>(limits: limits)
        b.add(BatcherTestItem(name: "a", itemCount: 6, byteCount: 40))
        let batch = b.send()
        #expect(batch.map(\.name) == ["a"] && b.isInFlight && b.pendingItems == 0 && b.pendingBytes == 0)
        b.add(BatcherTestItem(name: "b", itemCount: 7, byteCount: 70))
        #expect(!b.cuts(before: BatcherTestItem(name: "c", itemCount: 3, byteCount: 30)), "the batch in flight does not count against the next")
        #expect(b.committed().map(\.name) == ["a"] && !b.isInFlight)
        #expect(b.pending.map(\.name) == ["b"])
    }

    @Test("the read-ahead: only while a batch is in flight, up to one more request, handed back in order with the end")
    func readAhead() {
        var b = Batcher<BatcherTestItem>(limits: limits)
        #expect(!b.readsAhead, "nothing in flight: the machine reads itself")
        b.add(BatcherTestItem(name: "a", itemCount: 10, byteCount: 10))
        _ = b.send()
        #expect(b.readsAhead)
        b.readAhead(BatcherTestItem(name: "x", itemCount: 4, byteCount: 10))
        b.readAhead(BatcherTestItem(name: "y", itemCount: 5, byteCount: 10))
        #expect(b.readsAhead, "9 items of 10")
        b.readAhead(BatcherTestItem(name: "z", itemCount: 1, byteCount: 10))
        #expect(!b.readsAhead, "one request's worth read ahead")
        b.committed()
        var taken: [String] = []
        while let next = b.nextAhead() {
            switch next {
            case .item(let item): taken.append(item.name)
            case .end: taken.append("end")
            case .failed: taken.append("failed")
            }
        }
        #expect(taken == ["x", "y", "z"])
        // The byte budget stops it too, and the end of the query waits behind the items.
        _ = b.send()
        b.readAhead(BatcherTestItem(name: "big", itemCount: 1, byteCount: 100))
        #expect(!b.readsAhead)
        b.committed()
        _ = b.send()
        #expect(b.readsAhead == false, "still one request's worth waiting")
        b.committed()
        #expect(b.aheadCount == 1)
        if case .item(let item)? = b.nextAhead() { #expect(item.name == "big") } else { Issue.record("the item read ahead") }
        _ = b.send()
        b.endReadAhead(failed: true)
        #expect(!b.readsAhead, "a failed read stops the read-ahead")
        b.committed()
        if case .failed? = b.nextAhead() {} else { Issue.record("the failure, where the machine next reads") }
        #expect(b.nextAhead() == nil)
    }

    @Test("parts packed in order into requests within the budget")
    func pack() {
        let requests = Batcher<BatcherTestItem>.pack([60, 30, 20, 150, 10], budget: 100, bytes: { $0 })
        #expect(requests == [[60, 30], [20], [150], [10]])
    }
}
