import Checkpoints
import Foundation
import Postgres
import Testing
import UTCTime
import TestSupport

/// Each test gets its own database, so the tests run in parallel.
@Suite("CheckpointStore against a real server")
struct CheckpointStoreTests {
    /// 2025-01-01T00:00:00Z: bucket-aligned, like the watermarks the pipeline writes.
    let t0 = UTCInstant(unixNanoseconds: 1_735_689_600 * 1_000_000_000)

    func withStore<Result>(seriesLogLength: Int = CheckpointStore.defaultSeriesLogLength,
                           _ body: (CheckpointStore) throws -> Result) throws -> Result {
        try TestPostgres.withDatabase { url in
            let connection = try PostgresConnection.connect(conninfo: url)
            defer { connection.close() }
            let store = CheckpointStore(connection: connection, host: "test-host", pid: 4242, seriesLogLength: seriesLogLength)
            try store.migrate()
            return try body(store)
        }
    }

    func series(_ metric: String, _ key: String, total: Int64, end: UTCInstant) -> SeriesState {
        SeriesState(
            metric: metric, seriesID: key, // jsonb orders keys (shorter first), so this is already in the form it reads back in.
            attributesJSON: #"{"n": \#(key.count), "gen_ai.provider.name": "openai"}"#,
            startTime: self.t0, lastBucketEnd: end, intTotal: total
        )
    }

    func histogram(end: UTCInstant) -> SeriesState {
        SeriesState(
            metric: "gen_ai.client.operation.duration", seriesID: "openai|gpt-4o|",
            attributesJSON: #"{"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}"#,
            startTime: self.t0, lastBucketEnd: end, count: 12, sum: 3.25,
            bucketCounts: [0, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6]
        )
    }

    // MARK: - Migrations

    @Test func migrationsCreateTheSchemaAndRunTwiceWithoutChange() throws {
        try TestPostgres.withDatabase { url in
            let connection = try PostgresConnection.connect(conninfo: url)
            defer { connection.close() }
            let store = CheckpointStore(connection: connection)
            let first = try store.migrate()
            #expect(first.map(\.version) == CheckpointStore.migrations.map(\.version))

            func snapshot() throws -> [String] {
                try connection.query(
                    "SELECT version, name, applied_at::text AS applied FROM otel_bridge.schema_migrations ORDER BY version"
                ).map { "\(try $0.int("version"))|\(try $0.string("name"))|\(try $0.string("applied"))" }
            }
            let before = try snapshot()
            #expect(before.count == CheckpointStore.migrations.count)
            let second = try store.migrate()
            #expect(second.isEmpty)
            #expect(try snapshot() == before)

            let relations = try connection.query(
                """
                SELECT table_name FROM information_schema.tables WHERE table_schema = 'otel_bridge' ORDER BY table_name
                """
            ).map { try $0.string("table_name") }
            #expect(relations == ["bucket_digests", "checkpoints", "gap_log", "gaps", "pipeline_status", "runs", "schema_migrations",
                                  "series_current", "series_log", "series_log_latest", "series_state"])
        }
    }

    @Test func concurrentMigrationsApplyEachVersionOnce() throws {
        try TestPostgres.withDatabase { url in
            let applied = Collected<Int>()
            let failures = Collected<String>()
            let migrate: @Sendable () -> Void = {
                do {
                    let connection = try PostgresConnection.connect(conninfo: url)
                    defer { connection.close() }
                    applied.append(try CheckpointStore(connection: connection).migrate().count)
                } catch {
                    failures.append("\(error)")
                }
            }
            runConcurrently([migrate, migrate, migrate])
            #expect(failures.values == [])
            #expect(applied.values.sorted() == [0, 0, CheckpointStore.migrations.count])
        }
    }

    @Test func sqlLockKeyMatchesSwift() throws {
        try self.withStore { store in
            for name in ["default", "", "requests-per-minute", "Grüße 👋", String(repeating: "x", count: 300)] {
                let sql = try store.connection.query("SELECT otel_bridge.lock_key($1) AS key", [name]).single().int64("key")
                #expect(sql == PostgresConnection.lockKey(for: name), "lock key of \(name)")
            }
        }
    }

    // MARK: - Checkpoints and runs

    @Test func ensureCheckpointCreatesOnceAndKeepsTheWatermark() throws {
        try self.withStore { store in
            #expect(try store.checkpoint(pipeline: "p") == nil)
            let created = try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            #expect(created.pipeline == "p")
            #expect(created.watermark == self.t0)
            #expect(created.consecutiveFailures == 0)
            #expect(created.lastSuccessAt == nil)
            let again = try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0.adding(seconds: 3600))
            #expect(again == created)
            #expect(try store.checkpoint(pipeline: "p") == created)
        }
    }

    @Test func pipelineLockExcludesASecondStore() throws {
        try TestPostgres.withDatabase { url in
            let first = CheckpointStore(connection: try PostgresConnection.connect(conninfo: url))
            defer { first.connection.close() }
            let second = CheckpointStore(connection: try PostgresConnection.connect(conninfo: url))
            defer { second.connection.close() }
            try first.migrate()
            #expect(try first.tryLock(pipeline: "p"))
            #expect(try !second.tryLock(pipeline: "p"))
            #expect(try second.tryLock(pipeline: "other"))
            #expect(try first.unlock(pipeline: "p"))
            #expect(try second.tryLock(pipeline: "p"))
        }
    }

    @Test func commitBatchMovesWatermarkRunAndSeriesTogether() throws {
        try self.withStore { store in
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
            let t1 = self.t0.adding(seconds: 60)
            let requests = self.series("portkey.requests", "openai|gpt-4o|200", total: 10, end: t1)
            let cost = SeriesState(
                metric: "portkey.cost", seriesID: "openai|gpt-4o|USD",
                attributesJSON: #"{"portkey.currency": "USD"}"#, startTime: self.t0, lastBucketEnd: t1, doubleTotal: 0.125
            )
            try store.commitBatch(
                pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 10, pointsExported: 3, pointsRejected: 1,
                series: [requests, cost, self.histogram(end: t1)]
            )

            let checkpoint = try #require(try store.checkpoint(pipeline: "p"))
            #expect(checkpoint.watermark == t1)
            #expect(checkpoint.lastSuccessAt != nil)
            #expect(checkpoint.updatedAt >= checkpoint.createdAt)
            #expect(try store.loadSeries(pipeline: "p") == [self.histogram(end: t1), cost, requests])

            var run = try #require(try store.recentRuns(pipeline: "p").first)
            #expect(run.id == runID)
            #expect(run.status == .running)
            #expect(run.windowStart == self.t0)
            #expect(run.windowEnd == t1)
            #expect(run.rowsRead == 10)
            #expect(run.pointsExported == 3)
            #expect(run.pointsRejected == 1)
            #expect(run.batchesAcknowledged == 1)
            #expect(run.host == "test-host")
            #expect(run.pid == 4242)

            // A second batch updates one series and leaves the others.
            let t2 = t1.adding(seconds: 60)
            let updated = self.series("portkey.requests", "openai|gpt-4o|200", total: 25, end: t2)
            try store.commitBatch(
                pipeline: "p", runID: runID, newWatermark: t2, rowsRead: 15, pointsExported: 1, pointsRejected: 0,
                series: [updated]
            )
            #expect(try store.checkpoint(pipeline: "p")?.watermark == t2)
            #expect(try store.loadSeries(pipeline: "p") == [self.histogram(end: t1), cost, updated])
            run = try #require(try store.recentRuns(pipeline: "p").first)
            #expect(run.windowEnd == t2)
            #expect(run.rowsRead == 25)
            #expect(run.pointsExported == 4)
            #expect(run.batchesAcknowledged == 2)

            try store.finishRun(runID: runID, status: .ok)
            run = try #require(try store.recentRuns(pipeline: "p").first)
            #expect(run.status == .ok)
            #expect(run.finishedAt != nil)
            #expect(run.error == nil)
        }
    }

    @Test("a series' attributes are written with its row and kept: a later state with no attributes updates only its totals")
    func attributesWrittenOnce() throws {
        try self.withStore { store in
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
            let t1 = self.t0.adding(seconds: 60), t2 = t1.adding(seconds: 60)
            let first = self.series("portkey.requests", "a", total: 1, end: t1)
            try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 1, pointsExported: 1, pointsRejected: 0, series: [first])
            var later = self.series("portkey.requests", "a", total: 7, end: t2)
            later.attributesJSON = ""
            try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t2, rowsRead: 1, pointsExported: 1, pointsRejected: 0, series: [later])
            var expected = later
            expected.attributesJSON = first.attributesJSON
            #expect(try store.loadSeries(pipeline: "p") == [expected])
        }
    }

    @Test("an update of a series no longer stored fails the commit and moves nothing")
    func updateOfMissingSeries() throws {
        try self.withStore(seriesLogLength: 0) { store in
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
            let t1 = self.t0.adding(seconds: 60)
            var gone = self.series("portkey.requests", "a", total: 1, end: t1)
            gone.attributesJSON = ""
            let error = try #require(throws: CheckpointError.self) {
                try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 1, pointsExported: 1, pointsRejected: 0, series: [gone])
            }
            #expect(error.code == .seriesStateChanged)
            #expect(try store.checkpoint(pipeline: "p")?.watermark == self.t0)
            #expect(try store.loadSeries(pipeline: "p") == [])
        }
    }

    @Test func failedCommitMovesNothing() throws {
        try self.withStore { store in
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
            let t1 = self.t0.adding(seconds: 60)
            let good = self.series("portkey.requests", "a", total: 1, end: t1)
            try store.commitBatch(
                pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 1, pointsExported: 1, pointsRejected: 0, series: [good]
            )
            let checkpointBefore = try store.checkpoint(pipeline: "p")
            let runBefore = try store.recentRuns(pipeline: "p")

            // The second series has attributes that are not JSON: the whole batch must roll back.
            var bad = self.series("portkey.requests", "b", total: 2, end: t1.adding(seconds: 60))
            bad.attributesJSON = "{not json"
            let changed = self.series("portkey.requests", "a", total: 99, end: t1.adding(seconds: 60))
            let error = try #require(throws: PostgresError.self) {
                try store.commitBatch(
                    pipeline: "p", runID: runID, newWatermark: t1.adding(seconds: 60), rowsRead: 5, pointsExported: 2,
                    pointsRejected: 0, series: [changed, bad]
                )
            }
            #expect(error.sqlState == "22P02")
            #expect(try store.checkpoint(pipeline: "p") == checkpointBefore)
            #expect(try store.recentRuns(pipeline: "p") == runBefore)
            #expect(try store.loadSeries(pipeline: "p") == [good])
            #expect(!store.connection.isInTransaction)
        }
    }

    @Test func watermarkNeverMovesBackwardsThroughCommit() throws {
        try self.withStore { store in
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
            let earlier = self.t0.adding(seconds: -60)
            let error = try #require(throws: CheckpointError.self) {
                try store.commitBatch(
                    pipeline: "p", runID: runID, newWatermark: earlier, rowsRead: 1, pointsExported: 1, pointsRejected: 0,
                    series: [self.series("m", "k", total: 1, end: earlier)]
                )
            }
            #expect(error.code == .watermarkRegression)
            #expect(error.pipeline == "p")
            #expect(error.description.contains("2024-12-31T23:59:00.000000Z"))
            #expect(try store.checkpoint(pipeline: "p")?.watermark == self.t0)
            #expect(try store.loadSeries(pipeline: "p") == [])
            #expect(try store.recentRuns(pipeline: "p").first?.batchesAcknowledged == 0)

            // The same watermark again is allowed (a batch that closes no new bucket).
            try store.commitBatch(
                pipeline: "p", runID: runID, newWatermark: self.t0, rowsRead: 0, pointsExported: 0, pointsRejected: 0, series: []
            )
            #expect(try store.recentRuns(pipeline: "p").first?.batchesAcknowledged == 1)
        }
    }

    @Test func commitRequiresARunningRunOfThePipeline() throws {
        try self.withStore { store in
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            try store.ensureCheckpoint(pipeline: "q", initialWatermark: self.t0)
            let otherRun = try store.startRun(pipeline: "q", windowStart: self.t0)
            let t1 = self.t0.adding(seconds: 60)
            let wrongPipeline = try #require(throws: CheckpointError.self) {
                try store.commitBatch(
                    pipeline: "p", runID: otherRun, newWatermark: t1, rowsRead: 0, pointsExported: 0, pointsRejected: 0, series: []
                )
            }
            #expect(wrongPipeline.code == .unknownRun)
            let noCheckpoint = try #require(throws: CheckpointError.self) {
                try store.commitBatch(
                    pipeline: "nope", runID: otherRun, newWatermark: t1, rowsRead: 0, pointsExported: 0, pointsRejected: 0, series: []
                )
            }
            #expect(noCheckpoint.code == .unknownPipeline)
            try store.finishRun(runID: otherRun, status: .failed, error: "x")
            let finished = try #require(throws: CheckpointError.self) {
                try store.commitBatch(
                    pipeline: "q", runID: otherRun, newWatermark: t1, rowsRead: 0, pointsExported: 0, pointsRejected: 0, series: []
                )
            }
            #expect(finished.code == .unknownRun)
            #expect(try store.checkpoint(pipeline: "q")?.watermark == self.t0)
        }
    }

    /// A commit of the books alone (no series, digests or gap) runs as one statement without
    /// BEGIN/COMMIT: refused for any reason it changes nothing, accepted it moves the watermark and
    /// the run's counters together, and it leaves no transaction open either way.
    @Test func commitOfTheBooksAloneIsAllOrNothing() throws {
        try self.withStore { store in
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
            let t1 = self.t0.adding(seconds: 60)
            let runBefore = try store.recentRuns(pipeline: "p")
            let refusals: [(CheckpointError.Code, () throws -> Void)] = [
                (.lockLost, { try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 5, pointsExported: 5,
                                                    pointsRejected: 0, series: [], requireLock: true) }),
                (.watermarkRegression, { try store.commitBatch(pipeline: "p", runID: runID, newWatermark: self.t0.adding(seconds: -60), rowsRead: 5,
                                                               pointsExported: 5, pointsRejected: 0, series: []) }),
                (.unknownRun, { try store.commitBatch(pipeline: "p", runID: runID + 1_000, newWatermark: t1, rowsRead: 5, pointsExported: 5,
                                                      pointsRejected: 0, series: []) }),
            ]
            for (code, commit) in refusals {
                let error = try #require(throws: CheckpointError.self) { try commit() }
                #expect(error.code == code)
                #expect(try store.checkpoint(pipeline: "p")?.watermark == self.t0, "\(code)")
                #expect(try store.recentRuns(pipeline: "p") == runBefore, "\(code)")
                #expect(!store.connection.isInTransaction, "\(code)")
            }
            try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 5, pointsExported: 4, pointsRejected: 1, series: [])
            #expect(try store.checkpoint(pipeline: "p")?.watermark == t1)
            let run = try #require(try store.recentRuns(pipeline: "p").first)
            #expect(run.batchesAcknowledged == 1 && run.rowsRead == 5 && run.pointsExported == 4 && run.pointsRejected == 1)
            #expect(run.windowEnd == t1)
            #expect(!store.connection.isInTransaction)
        }
    }

    /// The books compare watermarks as a `timestamptz` keeps them (microseconds, truncated toward
    /// the epoch); the commit's own check after them does too, so a commit the books allowed (and,
    /// as one statement, committed) is never reported refused. Before 1970 truncation moves a
    /// sub-microsecond instant up: -1.5 µs is stored as -1 µs.
    @Test func aWatermarkTheBooksAllowIsNotRefusedAfterThem() throws {
        try self.withStore { store in
            let stored = UTCInstant(unixNanoseconds: -1_000)
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: stored)
            let runID = try store.startRun(pipeline: "p", windowStart: stored)
            try store.commitBatch(pipeline: "p", runID: runID, newWatermark: UTCInstant(unixNanoseconds: -1_500), rowsRead: 1,
                                  pointsExported: 1, pointsRejected: 0, series: [])
            #expect(try store.checkpoint(pipeline: "p")?.watermark == stored)
            #expect(try store.recentRuns(pipeline: "p").first?.batchesAcknowledged == 1)
            // A move back by a whole microsecond is refused, and nothing moves.
            let refused = try #require(throws: CheckpointError.self) {
                try store.commitBatch(pipeline: "p", runID: runID, newWatermark: UTCInstant(unixNanoseconds: -2_000), rowsRead: 1,
                                      pointsExported: 1, pointsRejected: 0, series: [])
            }
            #expect(refused.code == .watermarkRegression)
            #expect(try store.recentRuns(pipeline: "p").first?.batchesAcknowledged == 1)
        }
    }

    /// A batch that requires the pipeline's lock commits only while this session holds it, and a
    /// refused commit changes nothing: not the watermark, not the run, not the series.
    @Test func commitRequiringTheLockIsRefusedWithoutIt() throws {
        try self.withStore { store in
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
            let t1 = self.t0.adding(seconds: 60)
            let series = [SeriesState(metric: "m", seriesID: SeriesID.of("k"), attributesJSON: #"{"k":"v"}"#,
                                      startTime: self.t0, lastBucketEnd: t1, intTotal: 5)]
            let refused = try #require(throws: CheckpointError.self) {
                try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 1, pointsExported: 1,
                                      pointsRejected: 0, series: series, requireLock: true)
            }
            #expect(refused.code == .lockLost)
            #expect(try store.checkpoint(pipeline: "p")?.watermark == self.t0)
            #expect(try store.recentRuns(pipeline: "p").first?.batchesAcknowledged == 0)
            #expect(try store.loadSeries(pipeline: "p").isEmpty)
            // Refused before the checkpoint is looked at: the lock is the first thing a commit checks.
            let noCheckpoint = try #require(throws: CheckpointError.self) {
                try store.commitBatch(pipeline: "nope", runID: runID, newWatermark: t1, rowsRead: 0, pointsExported: 0,
                                      pointsRejected: 0, series: [], requireLock: true)
            }
            #expect(noCheckpoint.code == .lockLost)

            #expect(try store.tryLock(pipeline: "p"))
            try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 1, pointsExported: 1,
                                  pointsRejected: 0, series: series, requireLock: true)
            #expect(try store.checkpoint(pipeline: "p")?.watermark == t1)
            #expect(try store.recentRuns(pipeline: "p").first?.batchesAcknowledged == 1)
            #expect(try store.loadSeries(pipeline: "p").map(\.intTotal) == [5])
        }
    }

    @Test func finishRunTracksFailures() throws {
        try self.withStore { store in
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            for attempt in 1...2 {
                let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
                try store.finishRun(runID: runID, status: .failed, error: "ClickHouse said no \(attempt)")
                let checkpoint = try #require(try store.checkpoint(pipeline: "p"))
                #expect(checkpoint.consecutiveFailures == attempt)
                #expect(checkpoint.lastError == "ClickHouse said no \(attempt)")
                #expect(checkpoint.lastErrorAt != nil)
                #expect(checkpoint.watermark == self.t0)
                let again = try #require(throws: CheckpointError.self) {
                    try store.finishRun(runID: runID, status: .ok)
                }
                #expect(again.code == .unknownRun)
            }
            let runs = try store.recentRuns(pipeline: "p")
            #expect(runs.map(\.status) == [.failed, .failed])
            #expect(runs.first?.error == "ClickHouse said no 2")

            let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
            let invalid = try #require(throws: CheckpointError.self) {
                try store.finishRun(runID: runID, status: .running)
            }
            #expect(invalid.code == .invalidArgument)
            try store.finishRun(runID: runID, status: .ok)
            let checkpoint = try #require(try store.checkpoint(pipeline: "p"))
            #expect(checkpoint.consecutiveFailures == 0)
            #expect(checkpoint.lastError == "ClickHouse said no 2")
            #expect(try store.recentRuns(pipeline: "p", limit: 1).map(\.status) == [.ok])
        }
    }

    @Test func skippedRunIsRecordedFinished() throws {
        try self.withStore { store in
            let id = try store.recordSkippedRun(pipeline: "p", reason: "locked by another process")
            let run = try #require(try store.recentRuns(pipeline: "p").first)
            #expect(run.id == id)
            #expect(run.status == .skipped)
            #expect(run.error == "locked by another process")
            #expect(run.finishedAt == run.startedAt)
            #expect(run.windowStart == nil)
            #expect(run.host == "test-host")
            #expect(try store.checkpoint(pipeline: "p") == nil)
        }
    }

    // MARK: - Operator actions

    @Test func rewindMovesTheWatermarkAndClearsSeries() throws {
        try self.withStore { store in
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            try store.ensureCheckpoint(pipeline: "q", initialWatermark: self.t0)
            let t1 = self.t0.adding(seconds: 60)
            for pipeline in ["p", "q"] {
                let runID = try store.startRun(pipeline: pipeline, windowStart: self.t0)
                try store.commitBatch(
                    pipeline: pipeline, runID: runID, newWatermark: t1, rowsRead: 2, pointsExported: 2, pointsRejected: 0,
                    series: [self.series("m", "a", total: 1, end: t1), self.series("m", "b", total: 2, end: t1)]
                )
                try store.finishRun(runID: runID, status: .ok)
            }
            let runsBefore = try store.recentRuns(pipeline: "p")

            let back = self.t0.adding(seconds: -3600)
            #expect(try store.rewind(pipeline: "p", to: back) == 2)
            #expect(try store.checkpoint(pipeline: "p")?.watermark == back)
            #expect(try store.loadSeries(pipeline: "p") == [])
            #expect(try store.recentRuns(pipeline: "p") == runsBefore)
            #expect(try store.loadSeries(pipeline: "q").count == 2)
            #expect(try store.checkpoint(pipeline: "q")?.watermark == t1)

            // Forward is allowed too, and a pipeline without a checkpoint gets one.
            #expect(try store.rewind(pipeline: "new", to: t1) == 0)
            #expect(try store.checkpoint(pipeline: "new")?.watermark == t1)
        }
    }

    @Test func statusesComeFromTheView() throws {
        try self.withStore { store in
            let recent = UTCInstant(unixNanoseconds: (Int64(Date().timeIntervalSince1970) / 60 * 60 - 300) * 1_000_000_000)
            try store.ensureCheckpoint(pipeline: "b-failing", initialWatermark: self.t0)
            try store.ensureCheckpoint(pipeline: "a-fresh", initialWatermark: recent)
            try store.ensureCheckpoint(pipeline: "c-never-ran", initialWatermark: self.t0)

            let failing = try store.startRun(pipeline: "b-failing", windowStart: self.t0)
            try store.finishRun(runID: failing, status: .failed, error: "OTLP endpoint returned 400")
            let fresh = try store.startRun(pipeline: "a-fresh", windowStart: recent)
            try store.commitBatch(
                pipeline: "a-fresh", runID: fresh, newWatermark: recent.adding(seconds: 60), rowsRead: 1,
                pointsExported: 1, pointsRejected: 0, series: []
            )
            #expect(try store.tryLock(pipeline: "a-fresh"))

            let statuses = try store.statuses()
            #expect(statuses.map(\.pipeline) == ["a-fresh", "b-failing", "c-never-ran"])

            let a = statuses[0]
            #expect(a.watermark == recent.adding(seconds: 60))
            let expectedBehind = Date().timeIntervalSince(a.watermark.date)
            let behind = Double(a.behind.components.seconds) + Double(a.behind.components.attoseconds) / 1e18
            #expect(abs(behind - expectedBehind) < 30)
            #expect(a.lastSuccessAt != nil)
            #expect(a.lastRunStatus == .running)
            #expect(a.lastRunFinishedAt == nil)
            #expect(a.locked)

            let b = statuses[1]
            #expect(b.watermark == self.t0)
            #expect(b.lastError == "OTLP endpoint returned 400")
            #expect(b.lastErrorAt != nil)
            #expect(b.consecutiveFailures == 1)
            #expect(b.lastRunStatus == .failed)
            #expect(b.lastRunFinishedAt != nil)
            #expect(b.lastSuccessAt == nil)
            #expect(!b.locked)
            #expect(b.behind > .seconds(86_400))

            let c = statuses[2]
            #expect(c.lastRunStatus == nil)
            #expect(c.consecutiveFailures == 0)

            try store.unlock(pipeline: "a-fresh")
            #expect(try store.statuses().first?.locked == false)
        }
    }
}
