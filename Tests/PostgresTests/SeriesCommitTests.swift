import Foundation
import Testing
import TestSupport
import UTCTime

@testable import Checkpoints
@testable import Postgres

/// What the commit of series state must keep, however it writes: a session that dies mid-commit,
/// a refused commit, rewind and expiry. `seriesLogLength: 0` is a store that updates
/// `series_state` at every commit (no log); the default logs and merges later.
@Suite("Series state through commits")
struct SeriesCommitTests {
    let t0 = UTCInstant(unixNanoseconds: 1_735_689_600 * 1_000_000_000)

    func withStore<Result>(seriesLogLength: Int = CheckpointStore.defaultSeriesLogLength,
                           _ body: (CheckpointStore, String) throws -> Result) throws -> Result {
        try TestPostgres.withDatabase { url in
            let connection = try PostgresConnection.connect(conninfo: url)
            defer { connection.close() }
            let store = CheckpointStore(connection: connection, host: "test-host", pid: 4242, seriesLogLength: seriesLogLength)
            try store.migrate()
            return try body(store, url)
        }
    }

    func sum(_ id: String, total: Int64, end: UTCInstant, attributes: String = #"{"k": "v"}"#) -> SeriesState {
        SeriesState(metric: "portkey.requests", seriesID: id, attributesJSON: attributes, startTime: self.t0, lastBucketEnd: end,
                    intTotal: total)
    }

    /// Commits `batches` (series per batch) as one run, each batch one minute on.
    func commitAll(_ store: CheckpointStore, pipeline: String = "p", _ batches: [[SeriesState]]) throws {
        try store.ensureCheckpoint(pipeline: pipeline, initialWatermark: self.t0)
        let runID = try store.startRun(pipeline: pipeline, windowStart: self.t0)
        for (n, series) in batches.enumerated() {
            try store.commitBatch(pipeline: pipeline, runID: runID, newWatermark: self.t0.adding(seconds: Int64(60 * (n + 1))),
                                  rowsRead: 1, pointsExported: Int64(series.count), pointsRejected: 0, series: series)
        }
        try store.finishRun(runID: runID, status: .ok)
    }

    @Test("a session dying while the commit writes series state leaves series, watermark and run as they were",
          arguments: [(0, "UPDATE ON otel_bridge.series_state"), (CheckpointStore.defaultSeriesLogLength, "INSERT ON otel_bridge.series_log")])
    func crashWhileWritingSeries(seriesLogLength: Int, write: String) throws {
        try self.withStore(seriesLogLength: seriesLogLength) { store, url in
            let t1 = self.t0.adding(seconds: 60), t2 = t1.adding(seconds: 60)
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
            try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 1, pointsExported: 1, pointsRejected: 0,
                                  series: [self.sum("a", total: 1, end: t1)])
            let before = try store.loadSeries(pipeline: "p")
            let runBefore = try store.recentRuns(pipeline: "p")
            // By construction: the first row the commit writes for a stored series ends the session
            // (as a SIGKILL of the bridge would, or a server crash), after the run's counters moved.
            try store.connection.executeScript("""
                CREATE FUNCTION otel_bridge.die() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_terminate_backend(pg_backend_pid());
                    RETURN NEW;
                END $$;
                CREATE TRIGGER die BEFORE \(write) FOR EACH ROW EXECUTE FUNCTION otel_bridge.die();
                """)
            var next = self.sum("a", total: 2, end: t2, attributes: "")
            next.intTotal = 2
            let error = try #require(throws: PostgresError.self) {
                try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t2, rowsRead: 1, pointsExported: 1,
                                      pointsRejected: 0, series: [next, self.sum("new", total: 3, end: t2)])
            }
            #expect(error.code == .connectionLost)

            let fresh = try PostgresConnection.connect(conninfo: url)
            defer { fresh.close() }
            try fresh.executeScript("DROP TRIGGER die ON \(write.dropFirst("UPDATE ON ".count))")
            let after = CheckpointStore(connection: fresh, host: "test-host", pid: 4242)
            #expect(try after.loadSeries(pipeline: "p") == before)
            #expect(try after.checkpoint(pipeline: "p")?.watermark == t1)
            #expect(try after.recentRuns(pipeline: "p") == runBefore)
            // And the next session commits the same batch.
            try after.commitBatch(pipeline: "p", runID: runID, newWatermark: t2, rowsRead: 1, pointsExported: 1,
                                  pointsRejected: 0, series: [next, self.sum("new", total: 3, end: t2)])
            #expect(try after.loadSeries(pipeline: "p").map(\.intTotal) == [2, 3])
        }
    }

    @Test("a commit refused after it began leaves nothing for the next one on the same session")
    func failedCommitLeavesNothing() throws {
        // Refused at the commit that updates series_state: a store without a log.
        try self.withStore(seriesLogLength: 0) { store, _ in
            let t1 = self.t0.adding(seconds: 60), t2 = t1.adding(seconds: 60)
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
            // Refused while writing series: a stored series that is not stored.
            var missing = self.sum("gone", total: 1, end: t1)
            missing.attributesJSON = ""
            let error = try #require(throws: CheckpointError.self) {
                try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 1, pointsExported: 1, pointsRejected: 0,
                                      series: [missing, self.sum("x", total: 5, end: t1)])
            }
            #expect(error.code == .seriesStateChanged)
            #expect(try store.loadSeries(pipeline: "p") == [])
            try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t2, rowsRead: 1, pointsExported: 1, pointsRejected: 0,
                                  series: [self.sum("y", total: 6, end: t2)])
            #expect(try store.loadSeries(pipeline: "p").map(\.seriesID) == ["y"])
        }
    }

    @Test("rewind and expiry see the series the commits wrote, logged or not", arguments: [0, CheckpointStore.defaultSeriesLogLength])
    func rewindAndExpiryAfterCommits(seriesLogLength: Int) throws {
        try self.withStore(seriesLogLength: seriesLogLength) { store, _ in
            let t1 = self.t0.adding(seconds: 60), t2 = t1.adding(seconds: 60)
            var b2 = self.sum("b", total: 4, end: t2, attributes: "")
            b2.intTotal = 4
            try self.commitAll(store, [[self.sum("a", total: 1, end: t1), self.sum("b", total: 2, end: t1)], [b2]])
            #expect(try store.seriesIDs(pipeline: "p", metric: "portkey.requests") == ["a", "b"])
            #expect(try store.expireSeries(pipeline: "p", idleBefore: t2) == 1)
            #expect(try store.loadSeries(pipeline: "p").map(\.seriesID) == ["b"])
            #expect(try store.loadSeries(pipeline: "p").first?.intTotal == 4)
            // A later pass updating the expired series as stored is refused where series_state is
            // written (the commit without a log, the merge with one), and moves nothing.
            #expect(try store.tryLock(pipeline: "p"))
            let runID = try store.startRun(pipeline: "p", windowStart: t2)
            var a3 = self.sum("a", total: 9, end: t2.adding(seconds: 60), attributes: "")
            a3.intTotal = 9
            let refused = try #require(throws: CheckpointError.self) {
                try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t2.adding(seconds: 60), rowsRead: 1,
                                      pointsExported: 1, pointsRejected: 0, series: [a3])
                try store.settleSeries(pipeline: "p")
            }
            #expect(refused.code == .seriesStateChanged)
            #expect(try store.loadSeries(pipeline: "p").map(\.intTotal) == [4])
            #expect(try store.rewind(pipeline: "p", to: self.t0) == 1)
            #expect(try store.loadSeries(pipeline: "p") == [])
            #expect(try store.connection.query("SELECT count(*) AS n FROM otel_bridge.series_log").single().int64("n") == 0)
        }
    }

    // MARK: - A commit begun while its batch is in flight

    /// One run, under the pipeline's lock unless `locked` is false, whose first batch stores
    /// series `a` and `b`; returns the run and the second batch (both series updated), not committed.
    func firstBatch(_ store: CheckpointStore, locked: Bool = true) throws -> (runID: Int64, next: BatchCommit) {
        let t1 = self.t0.adding(seconds: 60), t2 = t1.adding(seconds: 60)
        if locked { #expect(try store.tryLock(pipeline: "p")) }
        try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
        let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
        try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 2, pointsExported: 2, pointsRejected: 0,
                              series: [self.sum("a", total: 1, end: t1), self.sum("b", total: 10, end: t1)])
        var next = BatchCommit(pipeline: "p", runID: runID, watermark: t2)
        next.rowsRead = 2
        next.pointsExported = 2
        next.series = [self.sum("a", total: 2, end: t2, attributes: ""), self.sum("b", total: 11, end: t2, attributes: ""),
                       self.sum("c", total: 5, end: t2)]
        return (runID, next)
    }

    @Test("a staged commit: nothing shows before the commit, and the commit writes what a plain one writes")
    func stagedCommitEqualsPlainCommit() throws {
        let plain = try self.withStore { store, _ in
            let (_, next) = try self.firstBatch(store)
            try store.commit(next)
            return (try store.loadSeries(pipeline: "p"), try store.recentRuns(pipeline: "p").first?.batchesAcknowledged)
        }
        try self.withStore { store, url in
            let (_, next) = try self.firstBatch(store)
            let before = try store.loadSeries(pipeline: "p")
            let session = try store.connection.query("SELECT pg_backend_pid() AS pid").single().int64("pid")
            try store.stage(next, holdFor: .seconds(10))
            #expect(store.connection.isInTransaction, "the stage holds a transaction open")
            // Another session sees nothing of it yet: not the series, not the watermark.
            let other = try PostgresConnection.connect(conninfo: url)
            defer { other.close() }
            let observer = CheckpointStore(connection: other, host: "observer", pid: 1)
            #expect(try observer.loadSeries(pipeline: "p") == before)
            #expect(try observer.checkpoint(pipeline: "p")?.watermark == self.t0.adding(seconds: 60))
            // The stage's insert runs: its transaction takes the log's row-exclusive lock (waited
            // for, up to 10 s: the insert is sent without waiting for it).
            var writing = false
            for _ in 0..<1_000 where !writing {
                writing = try other.query("""
                    SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                    WHERE c.relname = 'series_log' AND l.pid = $1 AND l.mode = 'RowExclusiveLock' AND l.granted
                    """, [session]).single().int64("n") == 1
                if !writing { Thread.sleep(forTimeInterval: 0.01) }
            }
            #expect(writing)
            try store.commit(next)
            #expect(!store.connection.isInTransaction)
            #expect(try observer.loadSeries(pipeline: "p") == plain.0)
            #expect(try observer.checkpoint(pipeline: "p")?.watermark == next.watermark)
            #expect(try observer.recentRuns(pipeline: "p").first?.batchesAcknowledged == plain.1)
        }
    }

    @Test("an abandoned stage writes nothing, and the session goes on")
    func abandonedStage() throws {
        try self.withStore { store, _ in
            let (_, next) = try self.firstBatch(store)
            let before = try store.loadSeries(pipeline: "p")
            try store.stage(next, holdFor: .seconds(10))
            store.abandonStage()
            #expect(!store.connection.isInTransaction)
            #expect(try store.loadSeries(pipeline: "p") == before)
            #expect(try store.checkpoint(pipeline: "p")?.watermark == self.t0.adding(seconds: 60))
            // Abandoned twice, or with none open: nothing happens.
            store.abandonStage()
            try store.commit(next)
            #expect(try store.loadSeries(pipeline: "p").map(\.intTotal) == [2, 11, 5])
        }
    }

    @Test("a stage of other series than the batch's is rolled back and the commit writes the batch's own")
    func stageOfAnotherBatch() throws {
        try self.withStore { store, _ in
            let (_, next) = try self.firstBatch(store)
            var other = next
            other.series[0].intTotal = 999
            try store.stage(other, holdFor: .seconds(10))
            try store.commit(next)
            #expect(try store.loadSeries(pipeline: "p").map(\.intTotal) == [2, 11, 5])
        }
    }

    @Test("a stage whose update misses a row: the commit does the work itself and refuses, nothing moves")
    func stageMissingARow() throws {
        // The commit that writes series_state refuses: here every commit does (no log).
        try self.withStore(seriesLogLength: 0) { store, _ in
            let (_, next) = try self.firstBatch(store)
            try store.connection.execute("DELETE FROM otel_bridge.series_state WHERE series_id = 'b'")
            let before = try store.loadSeries(pipeline: "p")
            try store.stage(next, holdFor: .seconds(10))
            let error = try #require(throws: CheckpointError.self) { try store.commit(next) }
            #expect(error.code == .seriesStateChanged)
            #expect(!store.connection.isInTransaction)
            #expect(try store.loadSeries(pipeline: "p") == before)
            #expect(try store.checkpoint(pipeline: "p")?.watermark == self.t0.adding(seconds: 60))
        }
    }

    /// The transaction of a stage idles while its request is in flight: a session bound shorter
    /// than the delivery may take is raised for that transaction, so the server does not end the
    /// session mid-delivery. By construction: the idle time is a sleep longer than the bound.
    @Test("a stage outlives an idle_in_transaction_session_timeout shorter than the delivery it waits for")
    func stageRaisesTheIdleBound() throws {
        try TestPostgres.withDatabase { url in
            let connection = try PostgresConnection.connect(conninfo: url, timeouts: PostgresTimeouts(idleInTransaction: .milliseconds(300)))
            defer { connection.close() }
            let store = CheckpointStore(connection: connection, host: "test-host", pid: 4242)
            try store.migrate()
            let (_, next) = try self.firstBatch(store)
            try store.stage(next, holdFor: .seconds(1))
            Thread.sleep(forTimeInterval: 0.9)
            try store.commit(next)
            #expect(try store.loadSeries(pipeline: "p").map(\.intTotal) == [2, 11, 5])
            // The bound is the session's again after the commit.
            #expect(try connection.query("SELECT current_setting('idle_in_transaction_session_timeout') AS t").single().string("t") == "300ms")
        }
    }

    /// Behind a pooler in transaction mode a stage's session may not be the one holding the
    /// pipeline's lock: the stage (the confirmation before the send) then refuses, leaves no
    /// transaction open and writes nothing; the batch is not to be sent.
    @Test("a stage on a session without the pipeline's lock refuses and writes nothing", arguments: [false, true])
    func stageWithoutTheLock(locked: Bool) throws {
        try self.withStore { store, _ in
            let (_, next) = try self.firstBatch(store, locked: locked)
            let before = try store.loadSeries(pipeline: "p")
            if locked {
                try store.stage(next, holdFor: .seconds(10))
                #expect(store.connection.isInTransaction)
            } else {
                let error = try #require(throws: CheckpointError.self) { try store.stage(next, holdFor: .seconds(10)) }
                #expect(error.code == .lockLost)
                #expect(!store.connection.isInTransaction)
                #expect(try store.loadSeries(pipeline: "p") == before)
                #expect(try store.checkpoint(pipeline: "p")?.watermark == self.t0.adding(seconds: 60))
            }
            // A commit that does not require the lock (as here) goes on either way.
            try store.commit(next)
            #expect(try store.loadSeries(pipeline: "p").map(\.intTotal) == [2, 11, 5])
        }
    }

    /// A commit of stored series' states between merges, with no new series, digests or gap, is
    /// one statement (the books and the log row) without BEGIN/COMMIT: refused, it writes no log
    /// row; accepted, the row and the watermark together; no transaction open either way.
    @Test("a commit of the books and the log row alone is one statement, all or nothing")
    func booksAndLogRowAreOneStatement() throws {
        try self.withStore { store, _ in
            let (_, first) = try self.firstBatch(store, locked: false)
            try store.commit(first)  // stores c: from here on a, b and c are stored
            let logRows = { try store.connection.query("SELECT count(*) AS n FROM otel_bridge.series_log").single().int64("n") }
            let rowsBefore = try logRows()
            let end = first.watermark.adding(seconds: 60)
            var next = BatchCommit(pipeline: "p", runID: first.runID, watermark: end)
            next.pointsExported = 2
            next.series = [self.sum("a", total: 3, end: end, attributes: ""), self.sum("c", total: 6, end: end, attributes: "")]
            next.requireLock = true
            let refused = try #require(throws: CheckpointError.self) { try store.commit(next) }
            #expect(refused.code == .lockLost)
            #expect(try logRows() == rowsBefore)
            #expect(try store.checkpoint(pipeline: "p")?.watermark == first.watermark)
            #expect(!store.connection.isInTransaction)
            #expect(try store.tryLock(pipeline: "p"))
            try store.commit(next)
            #expect(try logRows() == rowsBefore + 1)
            #expect(try store.checkpoint(pipeline: "p")?.watermark == end)
            #expect(!store.connection.isInTransaction)
            #expect(try store.loadSeries(pipeline: "p").map(\.intTotal) == [3, 11, 6])
        }
    }

    /// A partial success commits other counters than the stage wrote: the stage is rolled back and
    /// the commit writes the batch as acknowledged, once.
    @Test("a stage of the whole batch, committed with rejections: the commit's own books, counted once")
    func stageThenPartialSuccess() throws {
        try self.withStore { store, _ in
            let (_, next) = try self.firstBatch(store)
            try store.stage(next, holdFor: .seconds(10))
            var partial = next
            partial.pointsRejected = 1
            partial.rejectionMessage = "1 points rejected"
            try store.commit(partial)
            let run = try #require(try store.recentRuns(pipeline: "p").first)
            #expect(run.batchesAcknowledged == 2 && run.pointsExported == 4 && run.pointsRejected == 1)
            #expect(try store.loadSeries(pipeline: "p").map(\.intTotal) == [2, 11, 5])
            #expect(try store.checkpoint(pipeline: "p")?.watermark == next.watermark)
        }
    }

    /// The statements a pass runs at every batch under the lock (the confirmation before a send of
    /// a batch without series, the books alone, the books with the series' log row) settle on a
    /// generic plan, as a prepared statement should:
    /// Postgres planned them again at every run while the lock's key was a function call it folds
    /// into each plan (half of its CPU in a delta pass).
    @Test("the statements run at every batch under the lock are planned once, not at every run")
    func lockCheckedStatementsSettleOnGenericPlans() throws {
        try self.withStore { store, _ in
            let (runID, first) = try self.firstBatch(store)
            var next = first
            for n in 0..<20 {
                next.requireLock = true
                try store.stage(next, holdFor: .seconds(10))
                try store.commit(next)
                let end = next.watermark.adding(seconds: 60)
                next = BatchCommit(pipeline: "p", runID: runID, watermark: end)
                // Every other batch without series: the books alone.
                if n % 2 == 1 {
                    next.series = [self.sum("a", total: Int64(3 + n), end: end, attributes: ""),
                                   self.sum("b", total: Int64(12 + n), end: end, attributes: "")]
                }
            }
            let plans = try store.connection.query("""
                SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
                WHERE statement LIKE '%pg_locks%' ORDER BY statement
                """).map { (try $0.string("statement"), try $0.int64("generic_plans"), try $0.int64("custom_plans")) }
            #expect(plans.count == 3, "the confirmation, the books alone and with the log row: \(plans.map(\.0))")
            for (statement, generic, custom) in plans {
                #expect(generic > 0, "\(custom) custom plans and none generic: \(statement)")
            }
        }
    }
}
