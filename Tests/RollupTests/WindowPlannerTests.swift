import Testing
@testable import Rollup
import UTCTime

@Suite("WindowPlanner: closed, epoch-aligned buckets in bounded chunks")
struct WindowPlannerTests {
    let planner = WindowPlanner(stepSeconds: 60, lagSeconds: 120, maxBucketsPerQuery: 60)

    @Test("from an aligned watermark, one chunk up to the end of the last closed bucket")
    func chunkUpToClosedBound() {
        // now - lag = T + 8m30s, so the last closed bucket is [T+7m, T+8m).
        let now = T + 10 * 60 * second + 30 * second
        #expect(planner.closedUntil(now: now) == T + 8 * 60 * second)
        #expect(planner.chunks(watermark: T, now: now) == [TimeWindow(start: T, end: T + 8 * 60 * second)])
    }

    @Test("a bucket is closed exactly when t + step <= now - lag")
    func closedBoundary() {
        // Bucket [T, T+60s) closes at now = T + 60s + 120s.
        #expect(planner.chunks(watermark: T, now: T + 180 * second) == [TimeWindow(start: T, end: T + 60 * second)])
        #expect(planner.chunks(watermark: T, now: T + 180 * second - 1) == [])
        #expect(planner.closedUntil(now: T + 180 * second - 1) == T)
    }

    @Test("an unaligned watermark is rounded down to its bucket start")
    func unalignedWatermark() {
        let now = T + 6 * 60 * second
        #expect(planner.chunks(watermark: T + 30 * second, now: now) == [TimeWindow(start: T, end: T + 4 * 60 * second)])
        #expect(planner.chunks(watermark: T + 59 * second + 999_999_999, now: now) == [TimeWindow(start: T, end: T + 4 * 60 * second)])
        #expect(planner.alignDown(T + 1) == T)
        #expect(planner.initialWatermark(T + 45 * second) == T)
    }

    @Test("buckets are aligned to the Unix epoch, not to the watermark", arguments: [
        (Int64(300), Int64(7_201), Int64(7_200)),
        (Int64(300), Int64(7_499), Int64(7_200)),
        (Int64(3_600), Int64(5_399), Int64(3_600)),
        (Int64(86_400), Int64(1_795_946_400), Int64(1_795_910_400)),
    ])
    func epochAlignment(step: Int64, t: Int64, aligned: Int64) {
        let p = WindowPlanner(stepSeconds: step, lagSeconds: 0, maxBucketsPerQuery: 10)
        #expect(p.alignDown(t * second) == aligned * second)
        #expect(p.isAligned(aligned * second))
        #expect(!p.isAligned(aligned * second + 1))
    }

    @Test("a 30-day backfill at 60 s and 60 buckets per query gives 720 contiguous chunks of one hour")
    func thirtyDayBackfill() throws {
        let days30 = 30 * 86_400 * second
        let watermark = T - days30
        let chunks = planner.chunks(watermark: watermark, now: T + 120 * second)
        #expect(chunks.count == 720)
        let first = try #require(chunks.first)
        let last = try #require(chunks.last)
        #expect(first.start == watermark)
        #expect(last.end == T)
        #expect(last.end == planner.closedUntil(now: T + 120 * second))
        for (a, b) in zip(chunks, chunks.dropFirst()) {
            #expect(a.end == b.start)
        }
        #expect(chunks.allSatisfy { $0.end - $0.start == 60 * 60 * second })
        #expect(chunks.allSatisfy { planner.isAligned($0.start) && planner.isAligned($0.end) })
    }

    @Test("a backlog that is not a multiple of the chunk size ends with a short chunk")
    func shortLastChunk() {
        let p = WindowPlanner(stepSeconds: 60, lagSeconds: 0, maxBucketsPerQuery: 60)
        let chunks = p.chunks(watermark: T, now: T + 61 * 60 * second)
        #expect(chunks == [
            TimeWindow(start: T, end: T + 60 * 60 * second),
            TimeWindow(start: T + 60 * 60 * second, end: T + 61 * 60 * second),
        ])
        let one = WindowPlanner(stepSeconds: 60, lagSeconds: 0, maxBucketsPerQuery: 1)
        #expect(one.chunks(watermark: T, now: T + 3 * 60 * second + 59 * second) == [
            TimeWindow(start: T, end: T + 60 * second),
            TimeWindow(start: T + 60 * second, end: T + 120 * second),
            TimeWindow(start: T + 120 * second, end: T + 180 * second),
        ])
    }

    @Test("nothing to do when the watermark is at or past the closed bound", arguments: [Int64(0), 1, 60, 3_600])
    func nothingToDo(aheadSeconds: Int64) {
        let now = T + 10 * 60 * second
        let closed = planner.closedUntil(now: now)
        #expect(closed == T + 8 * 60 * second)
        #expect(planner.chunks(watermark: closed + aheadSeconds * second, now: now) == [])
    }

    @Test("negative times (before 1970) are aligned down, not toward zero")
    func negativeTimes() {
        let p = WindowPlanner(stepSeconds: 60, lagSeconds: 0, maxBucketsPerQuery: 60)
        #expect(p.alignDown(-30 * second) == -60 * second)
        #expect(p.alignDown(-1) == -60 * second)
        #expect(p.alignDown(-60 * second) == -60 * second)
        #expect(p.alignDown(-61 * second) == -120 * second)
        #expect(p.isAligned(-120 * second))
        #expect(!p.isAligned(-90 * second))
        #expect(p.closedUntil(now: -30 * second) == -60 * second)
        #expect(p.chunks(watermark: -290 * second, now: -30 * second) == [TimeWindow(start: -300 * second, end: -60 * second)])
        #expect(p.chunks(watermark: -90 * second, now: 30 * second) == [TimeWindow(start: -120 * second, end: 0)])
    }

    @Test("a window prints as ISO 8601 UTC")
    func windowDescription() {
        #expect(TimeWindow(start: T, end: T + 60 * second).description == "[2026-11-29T10:00:00Z, 2026-11-29T10:01:00Z)")
    }
}
