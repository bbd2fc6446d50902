import Checkpoints
import OTLP
import Testing
import UTCTime
@testable import GenAITraces

@Suite struct TracePagerTests {
    let ms: Int64 = 1_000_000
    let t: Int64 = 1_764_590_400_000_000_000

    func settings(page: Int = 3, spans: Int = 2, budget: Int = 1_000) -> TracePager.Settings {
        TracePager.Settings(pipeline: "gen_ai_traces", runID: 7, pageSize: page, maxSpansPerRequest: spans, requestBudget: budget)
    }

    func span(_ n: Int = 9) -> EncodedSpan { EncodedSpan(bytes: Array(repeating: 1, count: n)) }

    /// A simulated ClickHouse over `rows` (already in keyset order: ids compare as strings here)
    /// and a receiver that acknowledges everything: what the pager delivers and commits.
    func drive(_ pager: inout TracePager, rows: [Keyset], failDeliveryAt: Int? = nil) -> (delivered: [[Keyset]], commits: [BatchCommit], failed: Bool) {
        var delivered: [[Keyset]] = []
        var commits: [BatchCommit] = []
        var page: [Keyset] = []
        var pending: [Keyset] = []
        var batch: [Keyset] = []
        var action = pager.start()
        for _ in 0..<10_000 {
            switch action {
            case .query(let after, let until):
                page = Array(rows.filter { ($0.time, $0.id) > (after.time, after.id) && $0.time < until }.prefix(pager.settings.pageSize))
                action = .read
            case .read:
                guard !page.isEmpty else {
                    action = pager.endOfPage()
                    if case .deliver = action { batch = pending; pending = [] }
                    break
                }
                let k = page.removeFirst()
                action = pager.read(span(), keyset: k)
                if case .deliver = action { batch = pending; pending = [k] } else { pending.append(k) }
            case .deliver(let spans):
                #expect(spans.count == batch.count)
                delivered.append(batch)
                if failDeliveryAt == delivered.count { return (delivered, commits, true) }
                action = pager.acknowledged(ExportAcknowledgement())
            case .commit(let c):
                commits.append(c)
                action = pager.committed()
            case .finish:
                return (delivered, commits, false)
            }
        }
        Issue.record("the pager did not finish")
        return (delivered, commits, false)
    }

    @Test func rowsSharingAMillisecondAcrossPagesAreNeitherSkippedNorRepeated() {
        // 10 rows in one millisecond, 2 in the next; pages of 3, requests of 2.
        let rows = (0..<10).map { Keyset(time: t, id: String(format: "%02d", $0)) } + [Keyset(time: t + ms, id: "00"), Keyset(time: t + ms, id: "01")]
        var pager = TracePager(settings: settings(), watermark: (t, nil), until: t + 10 * ms)
        let (delivered, commits, _) = drive(&pager, rows: rows)
        #expect(delivered.flatMap { $0 } == rows)
        #expect(delivered.allSatisfy { $0.count <= 2 })
        #expect(commits.last?.watermark == UTCInstant(unixNanoseconds: t + ms))
        #expect(commits.last?.watermarkID == "01")
        #expect(commits.allSatisfy { $0.requireLock && $0.runID == 7 })
        #expect(commits.reduce(0) { $0 + $1.pointsExported } == 12)
        #expect(pager.spansExported == 12)
        #expect(pager.pages == 5)  // 3+3+3+3, then an empty page ends it
        // The next pass from the last commit sends nothing, and records that it looked.
        var again = TracePager(settings: settings(), watermark: (t + ms, "01"), until: t + 10 * ms)
        let second = drive(&again, rows: rows)
        #expect(second.delivered.flatMap { $0 }.isEmpty)
        #expect(second.commits.count == 1)
        #expect(second.commits[0].watermark == UTCInstant(unixNanoseconds: t + ms) && second.commits[0].watermarkID == "01")
        #expect(second.commits[0].pointsExported == 0)
    }

    @Test func aFirstPassStartsAtItsStartTimeInclusive() {
        let rows = [Keyset(time: t - ms, id: "ee"), Keyset(time: t, id: "00"), Keyset(time: t, id: "ff")]
        var pager = TracePager(settings: settings(page: 10, spans: 10), watermark: (t, nil), until: t + ms)
        // The simulated order compares ids as strings; "ffff…" is the greatest id.
        #expect(pager.startKeyset == Keyset(time: t - ms, id: Keyset.maxID))
        let (delivered, _, _) = drive(&pager, rows: rows)
        #expect(delivered.flatMap { $0 } == Array(rows.dropFirst()))
    }

    @Test func rowsAtOrAfterUntilWait() {
        let rows = [Keyset(time: t, id: "a"), Keyset(time: t + 5 * ms, id: "b")]
        var pager = TracePager(settings: settings(page: 10, spans: 10), watermark: (t, nil), until: t + 5 * ms)
        #expect(drive(&pager, rows: rows).delivered.flatMap { $0 } == [rows[0]])
    }

    @Test func batchesAreCutToTheByteBudget() {
        var pager = TracePager(settings: settings(page: 100, spans: 100, budget: 25), watermark: (t, nil), until: t + ms)
        // Each span adds 10 bytes (9 and a separator): two per request.
        #expect(pager.read(span(), keyset: Keyset(time: t, id: "1")) == .read)
        #expect(pager.read(span(), keyset: Keyset(time: t, id: "2")) == .read)
        guard case .deliver(let spans) = pager.read(span(), keyset: Keyset(time: t, id: "3")) else {
            Issue.record("expected a delivery"); return
        }
        #expect(spans.count == 2)
        guard case .commit(let c) = pager.acknowledged(ExportAcknowledgement(rejected: 1, message: "one bad span")) else {
            Issue.record("expected a commit"); return
        }
        #expect(c.watermarkID == "2")
        #expect(c.pointsRejected == 1 && c.rejectionMessage == "one bad span")
        #expect(pager.committed() == .read)
        #expect(pager.keyset == Keyset(time: t, id: "2"))
    }

    @Test func aFailedDeliveryCommitsNothingAndTheNextPassResendsTheSameRows() {
        let rows = (0..<6).map { Keyset(time: t, id: "\($0)") }
        var pager = TracePager(settings: settings(page: 10, spans: 2), watermark: (t, nil), until: t + ms)
        let first = drive(&pager, rows: rows, failDeliveryAt: 2)
        #expect(first.failed)
        #expect(first.commits.count == 1)
        let last = first.commits.last!
        var next = TracePager(settings: settings(page: 10, spans: 2), watermark: (last.watermark.unixNanoseconds, last.watermarkID), until: t + ms)
        let second = drive(&next, rows: rows)
        #expect(second.delivered.first == first.delivered[1])  // the very batch that failed
        #expect((first.delivered[0] + second.delivered.flatMap { $0 }) == rows)
    }
}
