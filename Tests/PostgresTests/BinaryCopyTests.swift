import Foundation
import Testing
import TestSupport
import UTCTime

@testable import Checkpoints
@testable import Postgres

/// The binary `COPY` encoding (``PostgresBinaryCopy``, ``PostgresConnection/copyIn(_:_:file:line:)``),
/// and what the commit of series state must keep whatever writes it: a session that dies mid-commit,
/// a refused commit, rewind and expiry.
@Suite("Binary COPY, and series state through commits")
struct BinaryCopyTests {
    let t0 = UTCInstant(unixNanoseconds: 1_735_689_600 * 1_000_000_000)

    // MARK: - The encoding

    @Test("the header, a row and the trailer are the bytes of Postgres' binary COPY format")
    func encodingBytes() throws {
        var copy = PostgresBinaryCopy()
        copy.startRow(fields: 3)
        copy.appendInt64(-2)
        copy.appendNull()
        try copy.appendText("é")
        let bytes = copy.finish()
        let expected: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]
            + [0, 3]
            + [0, 0, 0, 8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]
            + [0xFF, 0xFF, 0xFF, 0xFF]
            + [0, 0, 0, 2, 0xC3, 0xA9]
            + [0xFF, 0xFF]
        #expect(bytes == expected)
        #expect(copy.rows == 1)
    }

    @Test("a NUL in text is refused before anything is sent")
    func nulRefused() throws {
        var copy = PostgresBinaryCopy()
        copy.startRow(fields: 1)
        let error = try #require(throws: PostgresError.self) { try copy.appendText("a\u{0}b", column: "t.name") }
        #expect(error.code == .invalidParameter)
        #expect(error.message.contains("t.name"))
        #expect(throws: PostgresError.self) { try copy.appendJSONB("{\"a\": \"\u{0}\"}") }
    }

    @Test("every column type the store sends reads back as sent, NULLs and edge values included")
    func roundTripEveryType() throws {
        try TestPostgres.withDatabase { url in
            let connection = try PostgresConnection.connect(conninfo: url)
            defer { connection.close() }
            try connection.execute("""
                CREATE TEMP TABLE c (t text, j jsonb, ts timestamptz, i bigint, d double precision, a bigint[])
                """)
            struct Row {
                var t: String?, j: String?, ts: Int64?, i: Int64?, d: Double?, a: [Int64]?
            }
            let rows: [Row] = [
                Row(t: "portkey.requests", j: #"{"a": "b", "n": 1}"#, ts: 1_735_689_600_000_000, i: 42, d: 0.125, a: [0, 1, 2]),
                Row(t: nil, j: nil, ts: nil, i: nil, d: nil, a: nil),
                Row(t: "", j: "{}", ts: -1, i: Int64.min, d: -0.0, a: []),
                Row(t: "ünïcødé ✓ \t\n", j: #"{"k": "\u0001 \"q\""}"#, ts: 0, i: Int64.max, d: .infinity, a: [Int64.min, -1, Int64.max]),
                Row(t: String(repeating: "x", count: 70_000), j: "[1, 2.5, null, true]", ts: 946_684_800_000_001, i: 0,
                    d: -Double.greatestFiniteMagnitude, a: Array(0..<200).map { Int64($0) * 1_000_000_007 }),
                Row(t: "nan", j: #""just a string""#, ts: 253_402_300_799_999_999, i: -1, d: .nan, a: [7]),
            ]
            var copy = PostgresBinaryCopy()
            for row in rows {
                copy.startRow(fields: 6)
                try copy.appendText(row.t)
                try copy.appendJSONB(row.j)
                copy.appendTimestamp(unixMicroseconds: row.ts)
                copy.appendInt64(row.i)
                copy.appendDouble(row.d)
                copy.appendInt64Array(row.a)
            }
            let copied = try connection.copyIn("COPY c (t, j, ts, i, d, a) FROM STDIN (FORMAT binary)", copy.finish())
            #expect(copied == rows.count)

            let back = try connection.query("""
                SELECT t, j::text AS j, (extract(epoch FROM ts) * 1000000)::bigint AS ts, i, d, a
                FROM c ORDER BY i NULLS FIRST
                """)
            #expect(back.count == rows.count)
            let byI = Dictionary(uniqueKeysWithValues: rows.map { ($0.i, $0) })
            for stored in back {
                let i = try stored.optionalInt64("i")
                let row = try #require(byI[i])
                #expect(try stored.optionalString("t") == row.t)
                if let j = row.j {
                    // jsonb keeps the value, not the spelling: compare as parsed JSON.
                    let text = try #require(try stored.optionalString("j"))
                    let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed) as? NSObject
                    let sent = try JSONSerialization.jsonObject(with: Data(j.utf8), options: .fragmentsAllowed) as? NSObject
                    #expect(parsed == sent)
                } else {
                    #expect(try stored.optionalString("j") == nil)
                }
                #expect(try stored.optionalInt64("ts") == row.ts)
                let d = try stored.optionalDouble("d")
                if let expected = row.d, expected.isNaN {
                    #expect(d?.isNaN == true)
                } else {
                    #expect(d == row.d)
                    if let d, let expected = row.d { #expect(d.sign == expected.sign) }
                }
                #expect(try stored.optionalInt64Array("a") == row.a)
            }
        }
    }

    @Test("a COPY the server refuses throws its error, aborts the transaction, and leaves the connection usable")
    func refusedCopy() throws {
        try TestPostgres.withDatabase { url in
            let connection = try PostgresConnection.connect(conninfo: url)
            defer { connection.close() }
            try connection.execute("CREATE TEMP TABLE c (j jsonb)")
            var bad = PostgresBinaryCopy()
            bad.startRow(fields: 1)
            try bad.appendJSONB("{not json")
            let error = try #require(throws: PostgresError.self) {
                try connection.transaction {
                    try connection.execute("INSERT INTO c VALUES ('{}')")
                    try connection.copyIn("COPY c (j) FROM STDIN (FORMAT binary)", bad.finish())
                }
            }
            #expect(error.sqlState == "22P02")
            #expect(!connection.isInTransaction)
            #expect(try connection.query("SELECT count(*) AS n FROM c").single().int("n") == 0)
            // A statement that is not a COPY FROM STDIN is refused too, without hanging.
            #expect(throws: PostgresError.self) { try connection.copyIn("SELECT 1", PostgresBinaryCopy().finish()) }
            // A row with the wrong number of fields.
            var short = PostgresBinaryCopy()
            short.startRow(fields: 2)
            short.appendNull()
            short.appendNull()
            #expect(throws: PostgresError.self) { try connection.copyIn("COPY c (j) FROM STDIN (FORMAT binary)", short.finish()) }
            try connection.ping()
        }
    }

    // MARK: - The commit

    func withStore<Result>(_ body: (CheckpointStore, String) throws -> Result) throws -> Result {
        try TestPostgres.withDatabase { url in
            let connection = try PostgresConnection.connect(conninfo: url)
            defer { connection.close() }
            let store = CheckpointStore(connection: connection, host: "test-host", pid: 4242)
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

    @Test("a session dying while the commit writes series state leaves series, watermark and run as they were")
    func crashWhileWritingSeries() throws {
        try self.withStore { store, url in
            let t1 = self.t0.adding(seconds: 60), t2 = t1.adding(seconds: 60)
            try store.ensureCheckpoint(pipeline: "p", initialWatermark: self.t0)
            let runID = try store.startRun(pipeline: "p", windowStart: self.t0)
            try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t1, rowsRead: 1, pointsExported: 1, pointsRejected: 0,
                                  series: [self.sum("a", total: 1, end: t1)])
            let before = try store.loadSeries(pipeline: "p")
            let runBefore = try store.recentRuns(pipeline: "p")
            // By construction: the first stored row the commit updates ends the session (as a
            // SIGKILL of the bridge would, or a server crash), after the run's counters moved.
            try store.connection.executeScript("""
                CREATE FUNCTION otel_bridge.die() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_terminate_backend(pg_backend_pid());
                    RETURN NEW;
                END $$;
                CREATE TRIGGER die BEFORE UPDATE ON otel_bridge.series_state FOR EACH ROW EXECUTE FUNCTION otel_bridge.die();
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
            try fresh.executeScript("DROP TRIGGER die ON otel_bridge.series_state")
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
        try self.withStore { store, _ in
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

    @Test("rewind and expiry see the series the commits wrote")
    func rewindAndExpiryAfterCommits() throws {
        try self.withStore { store, _ in
            let t1 = self.t0.adding(seconds: 60), t2 = t1.adding(seconds: 60)
            var b2 = self.sum("b", total: 4, end: t2, attributes: "")
            b2.intTotal = 4
            try self.commitAll(store, [[self.sum("a", total: 1, end: t1), self.sum("b", total: 2, end: t1)], [b2]])
            #expect(try store.seriesIDs(pipeline: "p", metric: "portkey.requests") == ["a", "b"])
            #expect(try store.expireSeries(pipeline: "p", idleBefore: t2) == 1)
            #expect(try store.loadSeries(pipeline: "p").map(\.seriesID) == ["b"])
            #expect(try store.loadSeries(pipeline: "p").first?.intTotal == 4)
            // A later pass updating the expired series as stored is refused, and moves nothing.
            let runID = try store.startRun(pipeline: "p", windowStart: t2)
            var a3 = self.sum("a", total: 9, end: t2.adding(seconds: 60), attributes: "")
            a3.intTotal = 9
            #expect(throws: CheckpointError.self) {
                try store.commitBatch(pipeline: "p", runID: runID, newWatermark: t2.adding(seconds: 60), rowsRead: 1,
                                      pointsExported: 1, pointsRejected: 0, series: [a3])
            }
            #expect(try store.rewind(pipeline: "p", to: self.t0) == 1)
            #expect(try store.loadSeries(pipeline: "p") == [])
        }
    }


}
