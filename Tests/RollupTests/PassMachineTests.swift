import Testing
@testable import Checkpoints
@testable import OTLP
@testable import Rollup
import UTCTime

/// The pass's decisions, driven by hand: no ClickHouse, no receiver, no Postgres.
@Suite("The pass as decisions")
struct PassMachineTests {
    static let minute = 60 * second

    static func settings(maxBucketsPerQuery: Int = 10, maxPoints: Int = 100, budget: Int = 10_000, lateDataCheck: Int64 = 0,
                         fold: Bool = false) -> PassMachine.Settings {
        PassMachine.Settings(
            pipeline: "p", runID: 7, planner: WindowPlanner(stepSeconds: 60, lagSeconds: 0, maxBucketsPerQuery: maxBucketsPerQuery),
            maxPointsPerRequest: maxPoints, requestBudget: budget, lateDataCheckSeconds: lateDataCheck, fingerprint: "fp", foldLateData: fold)
    }

    /// A bucket at minute `m` with `points` points of `bytes` bytes each (one part).
    static func bucket(_ m: Int64, points: Int, bytes: Int = 10, rows: Int? = nil) -> ReadBucket {
        let part = EncodedPoints(slots: [.init(metric: 0, bytes: Array(repeating: UInt8(m), count: points * bytes), pointCount: points)],
                                 pointCount: points, byteCount: points * bytes)
        return ReadBucket(start: T + m * minute, rows: rows ?? points, parts: points > 0 ? [part] : [])
    }

    /// Runs the machine to its end: `buckets` are what each query returns (by window), every
    /// delivery is acknowledged, every commit succeeds. Returns the actions in order.
    static func run(_ machine: inout PassMachine, buckets: [ReadBucket], ack: ExportAcknowledgement = ExportAcknowledgement(),
                    stored: [Int64: String] = [:], current: [Int64: BucketDigest] = [:], folded: FoldedLate? = nil,
                    old: (rows: Int64, points: Int64) = (0, 0)) -> [PassMachine.Action] {
        var actions: [PassMachine.Action] = []
        var queue: [ReadBucket] = []
        var action = machine.start()
        while true {
            actions.append(action)
            switch action {
            case .query(let w):
                queue = buckets.filter { $0.start >= w.start && $0.start < w.end }
                action = .read
            case .read:
                action = queue.isEmpty ? machine.endOfChunk() : machine.read(queue.removeFirst())
            case .deliver: action = machine.acknowledged(ack)
            case .commit: action = machine.committed()
            case .loadDigests: action = machine.digestsLoaded(stored)
            case .readDigests: action = machine.digestsRead(current)
            case .recordLateBuckets: action = machine.recorded()
            case .foldLate: action = machine.lateFolded(folded)
            case .readOld: action = machine.oldRead(rows: old.rows, points: old.points)
            case .finish: return actions
            }
        }
    }

    static func commits(_ actions: [PassMachine.Action]) -> [BatchCommit] {
        actions.compactMap { if case .commit(let c) = $0 { c } else { nil } }
    }

    static func deliveries(_ actions: [PassMachine.Action]) -> [[[EncodedPoints]]] {
        actions.compactMap { if case .deliver(let r) = $0 { r } else { nil } }
    }

    @Test("an empty window commits the watermark where it is, and nothing is queried")
    func emptyWindow() {
        var machine = PassMachine(settings: Self.settings(), watermark: T, now: T + 30 * second)
        let actions = Self.run(&machine, buckets: [])
        #expect(actions.count == 2)
        let commit = Self.commits(actions)
        #expect(commit.count == 1)
        #expect(commit.first?.watermark == UTCInstant(unixNanoseconds: T))
        #expect(commit.first?.pointsExported == 0 && commit.first?.rowsRead == 0 && commit.first?.requireLock == true)
        #expect(machine.queries == 0 && machine.watermark == T && machine.bucketsTotal == 0)
    }

    @Test("closed buckets are queried in chunks of max_buckets_per_query, and each chunk's end is committed")
    func chunkBoundaries() {
        // 25 closed buckets, chunks of 10: [0,10) [10,20) [20,25).
        var machine = PassMachine(settings: Self.settings(maxBucketsPerQuery: 10), watermark: T, now: T + 25 * Self.minute + 5 * second)
        let buckets = [Self.bucket(0, points: 2), Self.bucket(3, points: 1), Self.bucket(12, points: 4)]
        let actions = Self.run(&machine, buckets: buckets)
        let queries = actions.compactMap { if case .query(let w) = $0 { w } else { nil } }
        #expect(queries == [
            TimeWindow(start: T, end: T + 10 * Self.minute), TimeWindow(start: T + 10 * Self.minute, end: T + 20 * Self.minute),
            TimeWindow(start: T + 20 * Self.minute, end: T + 25 * Self.minute),
        ])
        // A chunk with points is delivered, then committed at the chunk's end; an empty chunk
        // only moves the watermark.
        #expect(Self.commits(actions).map { $0.watermark.unixNanoseconds } == [T + 10 * Self.minute, T + 20 * Self.minute, T + 25 * Self.minute])
        #expect(Self.commits(actions).map(\.pointsExported) == [3, 4, 0])
        #expect(Self.deliveries(actions).count == 2)
        #expect(machine.watermark == T + 25 * Self.minute && machine.pointsExported == 7 && machine.batches == 2)
        #expect(machine.bucketsTotal == 25 && machine.bucketsDone == 25)
    }

    @Test("a bucket that would pass max_points_per_request sends the batch first, committed up to that bucket")
    func pointLimit() {
        var machine = PassMachine(settings: Self.settings(maxPoints: 5), watermark: T, now: T + 10 * Self.minute)
        let actions = Self.run(&machine, buckets: [Self.bucket(0, points: 3), Self.bucket(1, points: 2), Self.bucket(4, points: 1), Self.bucket(6, points: 7)])
        // [0,1] (5 points) up to bucket 4's start, [4] up to bucket 6's start, [6] (7 points,
        // whole: a bucket is never split by points) up to the chunk's end.
        #expect(Self.commits(actions).map { $0.watermark.unixNanoseconds } == [T + 4 * Self.minute, T + 6 * Self.minute, T + 10 * Self.minute])
        #expect(Self.commits(actions).map(\.pointsExported) == [5, 1, 7])
        #expect(Self.deliveries(actions).map(\.count) == [1, 1, 1])
    }

    @Test("a split on the byte limit: batches stay within the request budget, and a bucket larger than a request goes alone in several")
    func byteLimit() {
        var machine = PassMachine(settings: Self.settings(maxPoints: 1000, budget: 100), watermark: T, now: T + 10 * Self.minute)
        var big = Self.bucket(2, points: 3)
        big.parts = [big.parts[0], big.parts[0], big.parts[0], big.parts[0]]  // 4 parts of 30 bytes: 120 > 100
        let actions = Self.run(&machine, buckets: [Self.bucket(0, points: 4), Self.bucket(1, points: 5), big, Self.bucket(3, points: 2)])
        let deliveries = Self.deliveries(actions)
        // 40 + 50 = 90 bytes fit; the big bucket would not join them; alone it goes as two
        // requests (3 parts = 90 bytes, then 1); bucket 3 cannot join it.
        #expect(deliveries.map { $0.map { $0.reduce(0) { $0 + $1.byteCount } } } == [[90], [90, 30], [20]])
        for request in deliveries.flatMap({ $0 }) where request.count > 1 {
            #expect(request.reduce(0) { $0 + $1.byteCount } <= 100)
        }
        #expect(Self.commits(actions).map { $0.watermark.unixNanoseconds } == [T + 2 * Self.minute, T + 3 * Self.minute, T + 10 * Self.minute])
        #expect(machine.pointsExported == 4 + 5 + 12 + 2)
    }

    @Test("a failure after a partial commit: the watermark is the last commit, and the next pass starts there without gap or repeat")
    func failureAfterPartialCommit() {
        let buckets = (0..<6).map { Self.bucket(Int64($0), points: 2) }
        var machine = PassMachine(settings: Self.settings(maxPoints: 4), watermark: T, now: T + 6 * Self.minute)
        var action = machine.start()
        var delivered: [[[EncodedPoints]]] = []
        var queue = buckets
        // Read, deliver and commit the first batch; then the second delivery fails (the
        // driver stops: no acknowledgement, no commit).
        loop: while true {
            switch action {
            case .query: action = .read
            case .read: action = machine.read(queue.removeFirst())
            case .deliver(let r):
                delivered.append(r)
                if delivered.count == 2 { break loop }
                action = machine.acknowledged(ExportAcknowledgement())
            case .commit: action = machine.committed()
            default: Issue.record("unexpected \(action)"); return
            }
        }
        #expect(machine.watermark == T + 2 * Self.minute)
        #expect(machine.pointsExported == 4 && machine.bucketsDone == 2)
        // The next pass reads from the committed watermark: buckets 2…5, each once.
        var next = PassMachine(settings: Self.settings(maxPoints: 4), watermark: machine.watermark, now: T + 6 * Self.minute)
        let actions = Self.run(&next, buckets: buckets)
        #expect(actions.first == .query(TimeWindow(start: T + 2 * Self.minute, end: T + 6 * Self.minute)))
        #expect(next.pointsExported == 8 && next.watermark == T + 6 * Self.minute)
    }

    @Test("a commit carries the latest state of each series, the rejected points and the digests of its recent buckets")
    func commitValue() {
        func state(_ id: String, end m: Int64, total: Int64) -> SeriesState {
            SeriesState(metric: "m", seriesID: id, attributesJSON: "{}", startTime: UTCInstant(unixNanoseconds: T),
                        lastBucketEnd: UTCInstant(unixNanoseconds: T + m * Self.minute), intTotal: total)
        }
        let names = SeriesDirectory()
        var b0 = Self.bucket(0, points: 1)
        b0.changes = [names.change(0, state("a", end: 1, total: 1)), names.change(1, state("b", end: 1, total: 5))]
        b0.directory = names
        b0.digest.observations = 1
        b0.digest.hash = 0xAB
        var b1 = Self.bucket(1, points: 1)
        b1.changes = [names.change(0, state("a", end: 2, total: 3))]
        b1.directory = names
        b1.overflowed = 2
        // late_data_check 3 min at now = T+4min: buckets from T+1min carry digests.
        var machine = PassMachine(settings: Self.settings(lateDataCheck: 180), watermark: T, now: T + 4 * Self.minute)
        let actions = Self.run(&machine, buckets: [b0, b1], ack: ExportAcknowledgement(rejected: 1, message: "bad point"))
        let commit = Self.commits(actions)
        #expect(commit.count == 1)
        #expect(commit[0].series.map(\.seriesID) == ["a", "b"])
        #expect(commit[0].series.first?.intTotal == 3)
        #expect(commit[0].pointsRejected == 1 && commit[0].rejectionMessage == "bad point")
        #expect(commit[0].seriesOverflowed == 2)
        #expect(commit[0].bucketDigests.map { $0.bucketStart.unixNanoseconds } == [T + Self.minute, T + 2 * Self.minute, T + 3 * Self.minute])
        #expect(commit[0].bucketDigests.first?.digest == b1.digest.text(fingerprint: "fp"))
        #expect(b0.digest != b1.digest)
        #expect(commit[0].bucketDigests.last?.digest == BucketDigest().text(fingerprint: "fp"))
        #expect(commit[0].pruneDigestsBefore == UTCInstant(unixNanoseconds: T + Self.minute))
        #expect(machine.pointsRejected == 1)
    }

    @Test("a series new in a batch keeps the attributes of its first change when later changes carry none")
    func attributesOfNewSeries() {
        func state(_ json: String, end m: Int64, total: Int64) -> SeriesState {
            SeriesState(metric: "m", seriesID: "a", attributesJSON: json, startTime: UTCInstant(unixNanoseconds: T),
                        lastBucketEnd: UTCInstant(unixNanoseconds: T + m * Self.minute), intTotal: total)
        }
        let names = SeriesDirectory()
        var b0 = Self.bucket(0, points: 1)
        b0.changes = [names.change(0, state(#"{"k":"v"}"#, end: 1, total: 1))]
        b0.directory = names
        var b1 = Self.bucket(1, points: 1)
        b1.changes = [names.change(0, state("", end: 2, total: 3))]
        b1.directory = names
        var machine = PassMachine(settings: Self.settings(), watermark: T, now: T + 4 * Self.minute)
        let commit = Self.commits(Self.run(&machine, buckets: [b0, b1]))
        #expect(commit.count == 1)
        #expect(commit[0].series == [state(#"{"k":"v"}"#, end: 2, total: 3)])
    }

    @Test("the late-data check compares the stored digests of earlier passes with what the buckets hold now")
    func lateData() {
        // Watermark T+10min at now T+12min, check 5 min: buckets [T+7min, T+10min) were
        // exported by earlier passes.
        let start = T + 10 * Self.minute
        var unchanged = BucketDigest()
        unchanged.observations = 2
        unchanged.hash = 42
        var changed = unchanged
        changed.hash = 43
        let stored: [Int64: String] = [
            T + 7 * Self.minute: unchanged.text(fingerprint: "fp"),
            T + 8 * Self.minute: unchanged.text(fingerprint: "fp"),
            T + 9 * Self.minute: "other:1:1",  // another definition of the pipeline: not compared
        ]
        var machine = PassMachine(settings: Self.settings(lateDataCheck: 300), watermark: start, now: T + 12 * Self.minute)
        let actions = Self.run(&machine, buckets: [], stored: stored, current: [T + 7 * Self.minute: unchanged, T + 8 * Self.minute: changed])
        #expect(actions.contains(.loadDigests(from: T + 7 * Self.minute, to: start)))
        #expect(actions.contains(.readDigests([TimeWindow(start: T + 7 * Self.minute, end: start)])))
        #expect(actions.contains(.recordLateBuckets([BucketDigestRecord(bucketStart: UTCInstant(unixNanoseconds: T + 8 * Self.minute), digest: changed.text(fingerprint: "fp"))])))
        #expect(machine.lateBuckets == 1)
        #expect(actions.last == .finish)

        // Nothing stored: nothing is read again.
        var quiet = PassMachine(settings: Self.settings(lateDataCheck: 300), watermark: start, now: T + 12 * Self.minute)
        let none = Self.run(&quiet, buckets: [])
        #expect(!none.contains { if case .readDigests = $0 { true } else { false } })
        // Without late_data_check no digest is recorded or read.
        var off = PassMachine(settings: Self.settings(), watermark: start, now: T + 12 * Self.minute)
        let offActions = Self.run(&off, buckets: [Self.bucket(10, points: 1)])
        #expect(Self.commits(offActions).allSatisfy { $0.bucketDigests.isEmpty && $0.pruneDigestsBefore == nil })
        #expect(!offActions.contains { if case .loadDigests = $0 { true } else { false } })
    }

    @Test("buckets with rows but no points move the watermark without a delivery")
    func noPoints() {
        var machine = PassMachine(settings: Self.settings(), watermark: T, now: T + 3 * Self.minute)
        let actions = Self.run(&machine, buckets: [Self.bucket(0, points: 0, rows: 4)])
        #expect(Self.deliveries(actions).isEmpty)
        #expect(Self.commits(actions).map(\.rowsRead) == [4])
        #expect(machine.rowsRead == 4 && machine.watermark == T + 3 * Self.minute)
    }

    @Test("late_data: fold finds late rows before the first query, and only the first commit carries the re-read buckets' baseline and counts")
    func lateFold() {
        // Watermark T+10min at now T+13min, check 5 min: [T+8min, T+10min) read again first.
        let start = T + 10 * Self.minute
        let record = BucketDigestRecord(bucketStart: UTCInstant(unixNanoseconds: T + 8 * Self.minute), digest: "fp:3:9", exported: "v")
        let found = FoldedLate(records: [record], buckets: 1, folded: 4, unfolded: 1)
        var machine = PassMachine(settings: Self.settings(maxPoints: 1, lateDataCheck: 300, fold: true), watermark: start, now: T + 13 * Self.minute)
        let actions = Self.run(&machine, buckets: [Self.bucket(10, points: 1), Self.bucket(11, points: 1)], folded: found)
        #expect(actions.first == .foldLate(from: T + 8 * Self.minute, to: start, windows: [TimeWindow(start: T + 8 * Self.minute, end: start)]))
        #expect(actions.dropFirst().first == .query(TimeWindow(start: start, end: T + 13 * Self.minute)))
        let commits = Self.commits(actions)
        #expect(commits.count == 2)
        #expect(commits[0].bucketDigests.first == record, "the batch carrying the fold commits the new baseline")
        #expect(commits[0].lateBuckets == 1 && commits[0].lateFolded == 4 && commits[0].lateUnfolded == 1)
        #expect(commits.dropFirst().allSatisfy { $0.lateBuckets == 0 && $0.lateFolded == 0 && !$0.bucketDigests.contains(record) })
        // New buckets store their values (none given here: an empty text), for the next pass to compare.
        #expect(commits[0].bucketDigests.dropFirst().map(\.exported) == [""])
        #expect(machine.lateBuckets == 1 && machine.lateFolded == 4 && machine.lateUnfolded == 1)
        #expect(!actions.contains { if case .loadDigests = $0 { true } else { false } }, "no report at the end")

        // No new bucket: the fold waits (nothing read again, nothing recorded).
        var idle = PassMachine(settings: Self.settings(lateDataCheck: 300, fold: true), watermark: start, now: start + 30 * second)
        let idleActions = Self.run(&idle, buckets: [], folded: found)
        #expect(!idleActions.contains { if case .foldLate = $0 { true } else { false } })
        #expect(Self.commits(idleActions).allSatisfy { $0.lateBuckets == 0 && $0.bucketDigests.isEmpty })

        // A failed check (nil): the pass exports without a fold.
        var failed = PassMachine(settings: Self.settings(lateDataCheck: 300, fold: true), watermark: start, now: T + 12 * Self.minute)
        let failedActions = Self.run(&failed, buckets: [Self.bucket(10, points: 1)], folded: nil)
        #expect(Self.commits(failedActions).allSatisfy { $0.lateBuckets == 0 && !$0.bucketDigests.contains(record) })
        #expect(failed.watermark == T + 12 * Self.minute)
    }

    @Test("max_point_age: buckets ending before now minus the age are read for their counts, not sent; the first commit passes them and records the gap")
    func maxPointAge() {
        // A 3 h backlog at now T+180min+30s, max_point_age 1 h: buckets ending at or after
        // T+119min+30s are sent, from T+120min (the bucket T+119min ends 30 s too early).
        var settings = Self.settings(maxBucketsPerQuery: 60)
        settings.maxPointAgeSeconds = 3_600
        let now = T + 180 * Self.minute + 30 * second
        var machine = PassMachine(settings: settings, watermark: T, now: now)
        #expect(machine.gapEnd == T + 120 * Self.minute && machine.firstBucketSent == T + 120 * Self.minute)
        let actions = Self.run(&machine, buckets: [Self.bucket(5, points: 7), Self.bucket(120, points: 2), Self.bucket(179, points: 1)], old: (rows: 40, points: 55))
        #expect(actions.first == .readOld(windows: [TimeWindow(start: T, end: T + 60 * Self.minute), TimeWindow(start: T + 60 * Self.minute, end: T + 120 * Self.minute)],
                                          fold: false))
        let queries = actions.compactMap { if case .query(let w) = $0 { w } else { nil } }
        #expect(queries == [TimeWindow(start: T + 120 * Self.minute, end: T + 180 * Self.minute)], "nothing older is queried for sending")
        let commits = Self.commits(actions)
        #expect(commits.first?.gap == GapRecord(pipeline: "p", rangeStart: UTCInstant(unixNanoseconds: T), rangeEnd: UTCInstant(unixNanoseconds: T + 120 * Self.minute),
                                                buckets: 120, rows: 40, points: 55, reason: "max_point_age", policy: "drop", runID: 7))
        #expect(commits.dropFirst().allSatisfy { $0.gap == nil })
        #expect(commits.first?.pointsExported == 3, "the bucket at T+5min is not sent")
        #expect(machine.pointsSkipped == 55 && machine.watermark == T + 180 * Self.minute)

        // too_old: fold asks for the values; nothing too old: no gap.
        settings.foldTooOld = true
        var folding = PassMachine(settings: settings, watermark: T, now: now)
        #expect(folding.start() == .readOld(windows: [TimeWindow(start: T, end: T + 60 * Self.minute), TimeWindow(start: T + 60 * Self.minute, end: T + 120 * Self.minute)], fold: true))
        var recent = PassMachine(settings: settings, watermark: T + 150 * Self.minute, now: now)
        #expect(recent.gapEnd == T + 150 * Self.minute)
        #expect(Self.commits(Self.run(&recent, buckets: [])).allSatisfy { $0.gap == nil })
    }
}

extension SeriesDirectory {
    /// The aggregator's part, for a test: `state` as the change of series `s`, which inserts the
    /// series' row when the state carries the attributes' JSON (and names the series with it).
    func change(_ s: Int, _ state: SeriesState) -> SeriesChange {
        let inserts = !state.attributesJSON.isEmpty
        if inserts { register(s, identity: state.identity, attributesJSON: state.attributesJSON) }
        return SeriesChange(series: s, totals: SeriesTotals(start: state.startTime.unixNanoseconds, lastEnd: state.lastBucketEnd.unixNanoseconds,
                                                            intTotal: state.intTotal, doubleTotal: state.doubleTotal, count: state.count,
                                                            sum: state.sum, bucketCounts: state.bucketCounts),
                            inserts: inserts)
    }
}
