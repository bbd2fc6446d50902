import Foundation
import Testing
import TestSupport
import UTCTime

@testable import Checkpoints
@testable import Postgres

/// The series log: a commit appends the states of the stored series it changed to
/// `otel_bridge.series_log`; `series_state` is brought up to date every few commits, when a pass
/// settles, and from the log when the next pass begins (`expireSeries`) after one that did not.
@Suite("Series log")
struct SeriesLogTests {
    let t0 = UTCInstant(unixNanoseconds: 1_735_689_600 * 1_000_000_000)

    func minute(_ n: Int) -> UTCInstant { t0.adding(seconds: Int64(60 * n)) }

    /// A Sum series' state ending at minute `end`; `stored`: a state of a row already stored.
    func sum(_ id: String, total: Int64, end: Int, start: Int = 0, stored: Bool = true) -> SeriesState {
        SeriesState(metric: "portkey.requests", seriesID: id, attributesJSON: stored ? "" : #"{"id": "\#(id)"}"#,
                    startTime: minute(start), lastBucketEnd: minute(end), intTotal: total)
    }

    func withDatabase(_ body: (String) throws -> Void) throws {
        try TestPostgres.withDatabase { url in
            let connection = try PostgresConnection.connect(conninfo: url)
            defer { connection.close() }
            try CheckpointStore(connection: connection).migrate()
            try body(url)
        }
    }

    func store(_ url: String, seriesLogLength: Int = CheckpointStore.defaultSeriesLogLength,
               seriesLogStates: Int = CheckpointStore.maxLoggedStates) throws -> CheckpointStore {
        CheckpointStore(connection: try PostgresConnection.connect(conninfo: url), host: "test-host", pid: 4242,
                        seriesLogLength: seriesLogLength, seriesLogStates: seriesLogStates)
    }

    /// Starts a run of `p` under its lock.
    func begin(_ store: CheckpointStore) throws -> Int64 {
        #expect(try store.tryLock(pipeline: "p"))
        try store.ensureCheckpoint(pipeline: "p", initialWatermark: t0)
        return try store.startRun(pipeline: "p", windowStart: try #require(try store.checkpoint(pipeline: "p")).watermark)
    }

    func commit(_ store: CheckpointStore, run: Int64, minute n: Int, _ series: [SeriesState]) throws {
        var batch = BatchCommit(pipeline: "p", runID: run, watermark: minute(n))
        batch.series = series
        batch.requireLock = true
        try store.commit(batch)
    }

    func count(_ connection: PostgresConnection, _ sql: String) throws -> Int64 {
        try connection.query("SELECT (\(sql))::bigint AS n").single().int64("n")
    }

    /// `series_state` as it is, without the log: id → total.
    func rows(_ connection: PostgresConnection) throws -> [String: Int64] {
        var out: [String: Int64] = [:]
        for row in try connection.query("SELECT series_id, int_total FROM otel_bridge.series_state WHERE pipeline = 'p'") {
            out[try row.string("series_id")] = try row.int64("int_total")
        }
        return out
    }

    @Test("Swift's log key is SQL's", arguments: [
        ("portkey.requests", "a"), ("gen_ai.client.token.usage", String(repeating: "f", count: 64)),
        ("portkey.cost", "ünïcødé \u{1F600}"), ("", ""), ("m", "line\nbreak"),
    ])
    func logKeyMatchesSQL(metric: String, seriesID: String) throws {
        try withDatabase { url in
            let connection = try PostgresConnection.connect(conninfo: url)
            defer { connection.close() }
            let sql = try connection.query("SELECT otel_bridge.series_log_key($1, $2)::text AS k", [metric, seriesID]).single().string("k")
            #expect(SeriesID.logKey(metric: metric, seriesID: seriesID).description == sql)
            #expect(PostgresUUID(sql) == SeriesID.logKey(metric: metric, seriesID: seriesID))
        }
    }

    /// A schema of version 7 with series stored: migration 8 gives each row Swift's key, and a
    /// pass over it logs and merges them like series it inserted itself.
    @Test("migration 8 keys the series already stored")
    func migrationKeysStoredSeries() throws {
        try TestPostgres.withDatabase { url in
            let connection = try PostgresConnection.connect(conninfo: url)
            defer { connection.close() }
            try connection.executeScript("""
                CREATE SCHEMA otel_bridge;
                CREATE TABLE otel_bridge.schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
                """)
            for migration in CheckpointStore.migrations where migration.version <= 7 {
                try connection.executeScript(migration.sql)
                try connection.execute("INSERT INTO otel_bridge.schema_migrations (version, name) VALUES ($1, $2)", [migration.version, migration.name])
            }
            let ids = ["a", SeriesID.of("provider=openai"), "ünï"]
            for (n, id) in ids.enumerated() {
                try connection.execute("""
                    INSERT INTO otel_bridge.series_state (pipeline, metric, series_id, attributes, start_time, last_bucket_end, int_total)
                    VALUES ('p', 'portkey.requests', $1, '{}', $2, $3, $4)
                    """, [id, t0, minute(1), Int64(n)])
            }
            let store = CheckpointStore(connection: connection, host: "test-host", pid: 4242)
            #expect(try store.migrate().map(\.version) == [8])
            var keys: [String: SeriesLogKey] = [:]
            for row in try connection.query("SELECT series_id, log_key FROM otel_bridge.series_state") {
                keys[try row.string("series_id")] = try row.decode("log_key", as: SeriesLogKey.self)
            }
            #expect(keys == Dictionary(uniqueKeysWithValues: ids.map { ($0, SeriesID.logKey(metric: "portkey.requests", seriesID: $0)) }))
            let run = try begin(store)
            try commit(store, run: run, minute: 2, ids.map { sum($0, total: 10, end: 2) })
            #expect(try count(connection, "SELECT count(*) FROM otel_bridge.series_log") == 1)
            try store.settleSeries(pipeline: "p")
            #expect(try rows(connection) == Dictionary(uniqueKeysWithValues: ids.map { ($0, 10) }))
        }
    }

    /// A bridge of an earlier version, still running during a rolling update, inserts series
    /// without `log_key`: the column is filled in, rather than its commit failing.
    @Test("a row inserted without its log key gets it")
    func keyFilledForEarlierBridges() throws {
        try withDatabase { url in
            let connection = try PostgresConnection.connect(conninfo: url)
            defer { connection.close() }
            try connection.execute("""
                INSERT INTO otel_bridge.series_state (pipeline, metric, series_id, attributes, start_time, last_bucket_end, int_total)
                VALUES ('p', 'portkey.requests', 'old', '{}', $1, $2, 1)
                """, [t0, minute(1)])
            let key = try connection.query("SELECT log_key FROM otel_bridge.series_state").single().decode("log_key", as: SeriesLogKey.self)
            #expect(key == SeriesID.logKey(metric: "portkey.requests", seriesID: "old"))
        }
    }

    @Test("the rows a store inserts carry the key the migration gives")
    func insertedKeysAreSQLs() throws {
        try withDatabase { url in
            let store = try store(url)
            defer { store.connection.close() }
            let run = try begin(store)
            try commit(store, run: run, minute: 1, [sum("a", total: 1, end: 1, stored: false), sum("b", total: 2, end: 1, stored: false)])
            #expect(try count(store.connection, """
                SELECT count(*) FROM otel_bridge.series_state WHERE log_key = otel_bridge.series_log_key(metric, series_id)
                """) == 2)
        }
    }

    /// Every commit of stored series appends one log row and leaves `series_state` as it was;
    /// `series_current` shows the committed states all along; the commit that makes the log
    /// `seriesLogLength` times the series it covers merges it, and `settleSeries` merges the rest.
    @Test("commits are logged, merged every few commits and when the pass settles")
    func loggedAndMerged() throws {
        try withDatabase { url in
            let store = try store(url, seriesLogLength: 3)
            defer { store.connection.close() }
            let run = try begin(store)
            try commit(store, run: run, minute: 1, [sum("a", total: 1, end: 1, stored: false), sum("b", total: 10, end: 1, stored: false)])
            var logRows: [Int64] = []
            for n in 2...8 {
                try commit(store, run: run, minute: n, [sum("a", total: Int64(n), end: n), sum("b", total: Int64(10 * n), end: n)])
                logRows.append(try count(store.connection, "SELECT count(*) FROM otel_bridge.series_log"))
                #expect(try store.loadSeries(pipeline: "p").map(\.intTotal) == [Int64(n), Int64(10 * n)], "minute \(n)")
            }
            // Two series: the log holds up to 3 × 2 states; the commit that would make it 6 merges.
            #expect(logRows == [1, 2, 0, 1, 2, 0, 1])
            #expect(try rows(store.connection) == ["a": 7, "b": 70])
            try store.settleSeries(pipeline: "p")
            #expect(try rows(store.connection) == ["a": 8, "b": 80])
            #expect(try count(store.connection, "SELECT count(*) FROM otel_bridge.series_log") == 0)
            #expect(try store.loadSeries(pipeline: "p").map(\.intTotal) == [8, 80])
        }
    }

    /// The store keeps each series' latest state in memory between merges (an open-addressing
    /// table by log key): with hundreds of series, committed in changing subsets and orders and
    /// past several growths of that table, every merge writes each series' last committed state.
    @Test("hundreds of series committed in changing subsets: each merge writes every series' latest state")
    func manySeriesMerged() throws {
        try withDatabase { url in
            let store = try store(url, seriesLogLength: 2)
            defer { store.connection.close() }
            let run = try begin(store)
            let ids = (0..<300).map { "s\($0)" }
            try commit(store, run: run, minute: 1, ids.map { sum($0, total: 0, end: 1, stored: false) })
            var expected = Dictionary(uniqueKeysWithValues: ids.map { ($0, Int64(0)) })
            for n in 2...9 {
                // Every n-th series from an offset, in reverse order every other commit.
                var changed = ids.indices.filter { ($0 + n) % n == 0 || $0 % 7 == n % 7 }.map { ids[$0] }
                if n % 2 == 0 { changed.reverse() }
                try commit(store, run: run, minute: n, changed.map { sum($0, total: Int64(1000 * n) + Int64($0.dropFirst())!, end: n) })
                for id in changed { expected[id] = Int64(1000 * n) + Int64(id.dropFirst())! }
                // After each commit, logged or merged (every other commit here), as committed.
                #expect(Dictionary(uniqueKeysWithValues: try store.loadSeries(pipeline: "p").map { ($0.seriesID, $0.intTotal ?? -1) }) == expected,
                        "minute \(n)")
            }
            try store.settleSeries(pipeline: "p")
            #expect(try count(store.connection, "SELECT count(*) FROM otel_bridge.series_log") == 0)
            #expect(try rows(store.connection) == expected)
        }
    }

    /// However many commits the log may span, it holds at most `seriesLogStates` states: what a
    /// pass applies after a crash stays bounded when there are many series.
    @Test("the log holds at most seriesLogStates states")
    func logBoundedInStates() throws {
        try withDatabase { url in
            let store = try store(url, seriesLogLength: 64, seriesLogStates: 5)
            defer { store.connection.close() }
            let run = try begin(store)
            try commit(store, run: run, minute: 1, [sum("a", total: 1, end: 1, stored: false), sum("b", total: 10, end: 1, stored: false)])
            var logRows: [Int64] = []
            for n in 2...5 {
                try commit(store, run: run, minute: n, [sum("a", total: Int64(n), end: n), sum("b", total: Int64(10 * n), end: n)])
                logRows.append(try count(store.connection, "SELECT count(*) FROM otel_bridge.series_log"))
            }
            // 2, 4 states logged; 6 would pass 5: that commit merges.
            #expect(logRows == [1, 2, 0, 1])
            #expect(try rows(store.connection) == ["a": 4, "b": 40])
        }
    }

    /// A pass that ends without settling (SIGKILL, a lost connection) leaves its states in the
    /// log; the next pass's first step (`expireSeries`) applies them before it judges idleness.
    @Test("the log a pass leaves is merged when the next begins, before idle series are judged")
    func leftLogMergedAtTheNextPass() throws {
        try withDatabase { url in
            let first = try store(url)
            let run = try begin(first)
            try commit(first, run: run, minute: 1, [sum("a", total: 1, end: 1, stored: false), sum("b", total: 5, end: 1, stored: false)])
            try commit(first, run: run, minute: 2, [sum("a", total: 2, end: 2)])
            try commit(first, run: run, minute: 3, [sum("a", total: 3, end: 3)])
            first.connection.close()  // no settle: as a killed process leaves it

            let next = try store(url)
            defer { next.connection.close() }
            #expect(try rows(next.connection) == ["a": 1, "b": 5])
            #expect(try next.loadSeries(pipeline: "p").map(\.intTotal) == [3, 5])
            #expect(try next.tryLock(pipeline: "p"))
            // b's last bucket ended at minute 1, a's at 3 (in the log only): only b is idle.
            #expect(try next.expireSeries(pipeline: "p", idleBefore: minute(2)) == 1)
            #expect(try rows(next.connection) == ["a": 3])
            #expect(try count(next.connection, "SELECT count(*) FROM otel_bridge.series_log") == 0)
        }
    }

    /// A state only moves forward: a series restarted after its last logged state (its row
    /// written anew, with a later last bucket) keeps the restart when the log is merged.
    @Test("a series restarted after its last logged state keeps the restart through a merge from the log")
    func restartOutlivesTheLog() throws {
        try withDatabase { url in
            let first = try store(url)
            let run = try begin(first)
            try commit(first, run: run, minute: 1, [sum("a", total: 1, end: 1, stored: false)])
            try commit(first, run: run, minute: 2, [sum("a", total: 2, end: 2)])
            // Restarted at minute 5 (idle past expiry, or a total that no longer fits).
            try commit(first, run: run, minute: 6, [sum("a", total: 7, end: 6, start: 5, stored: false)])
            #expect(try count(first.connection, "SELECT count(*) FROM otel_bridge.series_log") == 1)
            first.connection.close()

            let next = try store(url)
            defer { next.connection.close() }
            let restarted = [sum("a", total: 7, end: 6, start: 5, stored: true)]
            #expect(try next.loadSeries(pipeline: "p").map { var s = $0; s.attributesJSON = ""; return s } == restarted)
            try next.mergeSeriesLog(pipeline: "p")
            #expect(try next.loadSeries(pipeline: "p").map { var s = $0; s.attributesJSON = ""; return s } == restarted)
        }
    }

    /// The merge writes from the store's memory what it logged; a log row it did not write (a
    /// pass on another session that ended without settling, and no `expireSeries` since) is
    /// applied first, never deleted unread.
    @Test("a merge applies log rows another session left before its own")
    func mergeAppliesRowsItDidNotWrite() throws {
        try withDatabase { url in
            let first = try store(url)
            let run = try begin(first)
            try commit(first, run: run, minute: 1, [sum("a", total: 1, end: 1, stored: false), sum("b", total: 5, end: 1, stored: false)])
            try commit(first, run: run, minute: 2, [sum("b", total: 6, end: 2)])
            first.connection.close()

            let next = try store(url)
            defer { next.connection.close() }
            let run2 = try begin(next)
            try commit(next, run: run2, minute: 3, [sum("a", total: 3, end: 3)])
            try next.settleSeries(pipeline: "p")
            #expect(try rows(next.connection) == ["a": 3, "b": 6])
            #expect(try count(next.connection, "SELECT count(*) FROM otel_bridge.series_log") == 0)
        }
    }

    /// An operator deleting a series' row while the pipeline runs: found where `series_state`
    /// is written, the merge, which refuses and moves nothing; the next pass's merge from the
    /// log leaves the row deleted (the series restarts when it returns).
    @Test("a row deleted while the pipeline runs is found at the merge", arguments: [false, true])
    func deletedRowFoundAtTheMerge(atSettle: Bool) throws {
        try withDatabase { url in
            let store = try store(url, seriesLogLength: 2)
            defer { store.connection.close() }
            let run = try begin(store)
            try commit(store, run: run, minute: 1, [sum("a", total: 1, end: 1, stored: false), sum("b", total: 5, end: 1, stored: false)])
            try commit(store, run: run, minute: 2, [sum("a", total: 2, end: 2), sum("b", total: 6, end: 2)])
            try store.connection.execute("DELETE FROM otel_bridge.series_state WHERE series_id = 'b'")
            let error = try #require(throws: CheckpointError.self) {
                if atSettle {
                    try store.settleSeries(pipeline: "p")
                } else {
                    try commit(store, run: run, minute: 3, [sum("a", total: 3, end: 3), sum("b", total: 7, end: 3)])
                }
            }
            #expect(error.code == .seriesStateChanged)
            #expect(try store.checkpoint(pipeline: "p")?.watermark == minute(2))
            #expect(try rows(store.connection) == ["a": 1])
            #expect(try count(store.connection, "SELECT count(*) FROM otel_bridge.series_log") == 1)
            try store.mergeSeriesLog(pipeline: "p")
            #expect(try rows(store.connection) == ["a": 2])
        }
    }

    /// Rewinding empties the log with the state: nothing logged before survives into the
    /// series exported again.
    @Test("rewind empties the log")
    func rewindEmptiesTheLog() throws {
        try withDatabase { url in
            let store = try store(url)
            defer { store.connection.close() }
            let run = try begin(store)
            try commit(store, run: run, minute: 1, [sum("a", total: 1, end: 1, stored: false)])
            try commit(store, run: run, minute: 2, [sum("a", total: 2, end: 2)])
            try store.finishRun(runID: run, status: .ok)
            #expect(try store.rewind(pipeline: "p", to: t0) == 1)
            #expect(try count(store.connection, "SELECT count(*) FROM otel_bridge.series_log") == 0)
            // The next run's series are new again, and settle has nothing left of the old.
            let run2 = try store.startRun(pipeline: "p", windowStart: t0)
            try commit(store, run: run2, minute: 1, [sum("a", total: 9, end: 1, stored: false)])
            try store.settleSeries(pipeline: "p")
            #expect(try rows(store.connection) == ["a": 9])
        }
    }
}
