import Logging
import Postgres

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import UTCTime

/// The checkpoint store: watermarks, runs and cumulative series state in schema `otel_bridge`.
///
/// All operations are synchronous and block on the database, like the ``PostgresConnection`` they
/// use; call them from the export thread. Operations throw `PostgresError` for database failures
/// and ``CheckpointError`` for requests that break the store's rules.
///
/// A pass of a pipeline looks like this:
/// ```swift
/// guard try store.tryLock(pipeline: name) else {
///     try store.recordSkippedRun(pipeline: name, reason: "locked by another process")
///     return
/// }
/// defer { try? store.unlock(pipeline: name) }
/// let checkpoint = try store.ensureCheckpoint(pipeline: name, initialWatermark: startAt)
/// let runID = try store.startRun(pipeline: name, windowStart: checkpoint.watermark)
/// var series = try store.loadSeries(pipeline: name)
/// // for each batch, once the OTLP endpoint acknowledged it:
/// try store.commitBatch(pipeline: name, runID: runID, newWatermark: end, rowsRead: rows,
///                       pointsExported: points, pointsRejected: 0, series: changed)
/// try store.finishRun(runID: runID, status: .ok)
/// ```
public final class CheckpointStore: Sendable {
    /// The connection every operation uses. The pipeline locks belong to its session.
    public let connection: PostgresConnection
    /// Where migrations, commits and rewinds are logged.
    public let logger: Logger
    /// Recorded in `runs.host`.
    public let host: String
    /// Recorded in `runs.pid`.
    public let pid: Int
    /// The commit begun while its batch is in flight (``stage(_:holdFor:)``). The lock hands the
    /// stage to one taker; the connection is still used by one thread at a time (the pass
    /// runner's rule: the worker, or the pass thread, never both).
    private let staged = Mutex<StagedCommit?>(nil)
    /// How many commits' worth of series changes `otel_bridge.series_log` holds before a commit
    /// merges them into `series_state`: a commit merges once the log holds this many times the
    /// series changed since the last merge. 0: no log, every commit updates `series_state`.
    public let seriesLogLength: Int
    /// The most states the log holds, whatever the series (``maxLoggedStates`` by default).
    public let seriesLogStates: Int
    /// Per pipeline, the series states committed to the log since the last merge.
    private let unmerged = Mutex<[String: UnmergedSeries]>([:])

    /// Creates a store over an open connection. Call ``migrate()`` once before anything else.
    ///
    /// - Parameters:
    ///   - host: recorded with each run; defaults to the host name (the pod name on Kubernetes).
    ///   - pid: recorded with each run; defaults to this process's id.
    ///   - seriesLogLength, seriesLogStates: see ``seriesLogLength``, ``seriesLogStates``.
    public init(
        connection: PostgresConnection,
        logger: Logger = Logger(label: "otel-bridge.checkpoints"),
        host: String = CheckpointStore.currentHost(),
        pid: Int = Int(getpid()),
        seriesLogLength: Int = CheckpointStore.defaultSeriesLogLength,
        seriesLogStates: Int = CheckpointStore.maxLoggedStates
    ) {
        self.connection = connection
        self.logger = logger
        self.host = host
        self.pid = pid
        self.seriesLogLength = max(0, seriesLogLength)
        self.seriesLogStates = max(0, seriesLogStates)
    }

    /// A merge writes each series changed since the last one once (about 4 µs a row), so the log's
    /// length trades those writes against what the next pass applies after a crash: 64 commits of
    /// 5,000 series is 320,000 states (a third of a second here), and 13 MB of log.
    public static let defaultSeriesLogLength = 64
    /// And at most this many states in the log, whatever the series: what a pass applies after a
    /// crash, in one statement (about 2 µs a state), stays far inside a `statement_timeout`.
    public static let maxLoggedStates = 500_000

    /// The host name of this machine, or `"unknown"`.
    public static func currentHost() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - Locks

    /// Takes the pipeline's session-level advisory lock (key
    /// ``PostgresConnection/lockKey(for:)`` of the pipeline name) without waiting.
    ///
    /// - Returns: `false` if another session holds it: another pass of the pipeline is running.
    public func tryLock(pipeline: String) throws -> Bool {
        try self.connection.tryAdvisoryLock(key: PostgresConnection.lockKey(for: pipeline))
    }

    /// Throws ``CheckpointError/Code/lockLost`` unless this session holds the pipeline's lock.
    /// Behind a pooler in transaction mode the session that took the advisory lock may not be the
    /// one asking, and two runs could both be exporting: a pass checks before it sends a batch,
    /// and again in the transaction that commits it.
    public func confirmLockHeld(pipeline: String, runID: Int64? = nil) throws {
        abandonStage()
        let held = try connection.query("SELECT \(Self.lockHeldCondition(key: "$1")) AS held", [PostgresConnection.lockKey(for: pipeline)])
        guard try held.first?.bool("held") == true else { throw Self.lockLost(pipeline: pipeline, runID: runID) }
    }

    /// True when this session holds the advisory lock whose key is the parameter `key` (`"$1"`, or
    /// a quoted literal in a script): ``PostgresConnection/lockKey(for:)`` of the pipeline, the key
    /// ``tryLock(pipeline:)`` took.
    ///
    /// The key goes as a parameter, not as `otel_bridge.lock_key(name)`: Postgres folds a call
    /// of that immutable function on a parameter into each plan, so a prepared statement holding
    /// it was planned again at every run (`pg_prepared_statements`: 0 generic plans of 8), and
    /// planning was half of Postgres's CPU in a delta pass. With the key a parameter the plans are
    /// generic after the fifth run.
    private static func lockHeldCondition(key: String) -> String {
        """
        EXISTS (
                SELECT 1 FROM pg_catalog.pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid = pg_backend_pid()
                  AND ((l.classid::bigint << 32) | l.objid::bigint) = \(key)::bigint
            )
        """
    }

    private static func lockLost(pipeline: String, runID: Int64?) -> CheckpointError {
        CheckpointError(
            code: .lockLost,
            message: "this session does not hold the pipeline's lock any more (a connection pooler in transaction mode? use a direct connection or session pooling)",
            pipeline: pipeline, runID: runID)
    }

    /// Releases the pipeline's lock. Closing the connection releases it too.
    ///
    /// - Returns: `false` if this session did not hold it.
    @discardableResult
    public func unlock(pipeline: String) throws -> Bool {
        abandonStage()
        return try self.connection.advisoryUnlock(key: PostgresConnection.lockKey(for: pipeline))
    }

    // MARK: - Checkpoints

    private static let checkpointColumns = """
        pipeline, watermark, updated_at, created_at, last_success_at, last_error, last_error_at, consecutive_failures
        """

    /// The pipeline's checkpoint, or `nil` if it has none yet.
    public func checkpoint(pipeline: String) throws -> Checkpoint? {
        let rows = try self.connection.query(
            "SELECT \(Self.checkpointColumns) FROM otel_bridge.checkpoints WHERE pipeline = $1", [pipeline]
        )
        return try rows.first.map(Self.checkpoint(from:))
    }

    /// The pipeline's checkpoint, created with `initialWatermark` if it has none (an existing
    /// watermark is never changed).
    @discardableResult
    public func ensureCheckpoint(pipeline: String, initialWatermark: UTCInstant) throws -> Checkpoint {
        let inserted = try self.connection.execute(
            """
            INSERT INTO otel_bridge.checkpoints (pipeline, watermark) VALUES ($1, $2)
            ON CONFLICT (pipeline) DO NOTHING
            """,
            [pipeline, initialWatermark]
        )
        if inserted > 0 {
            self.logger.info("created checkpoint", metadata: [
                "pipeline": "\(pipeline)", "watermark": "\(initialWatermark.postgresText)",
            ])
        }
        guard let checkpoint = try self.checkpoint(pipeline: pipeline) else {
            throw CheckpointError(code: .unknownPipeline, message: "checkpoint vanished after insert", pipeline: pipeline)
        }
        return checkpoint
    }

    // MARK: - Runs

    /// Records the start of a pass (status `running`, this host and pid).
    ///
    /// - Parameter windowStart: the watermark the pass starts from.
    /// - Returns: the run id for ``commitBatch(pipeline:runID:newWatermark:rowsRead:pointsExported:pointsRejected:series:)``
    ///   and ``finishRun(runID:status:error:)``.
    public func startRun(pipeline: String, windowStart: UTCInstant) throws -> Int64 {
        try self.connection.query(
            """
            INSERT INTO otel_bridge.runs (pipeline, started_at, window_start, status, host, pid)
            VALUES ($1, now(), $2, 'running', $3, $4)
            RETURNING id
            """,
            [pipeline, windowStart, self.host, self.pid]
        ).single().int64("id")
    }

    /// Records a pass that did nothing because the pipeline was locked by another process
    /// (status `skipped`, finished at once, `reason` in `error`).
    @discardableResult
    public func recordSkippedRun(pipeline: String, reason: String) throws -> Int64 {
        try self.connection.query(
            """
            INSERT INTO otel_bridge.runs (pipeline, started_at, finished_at, status, error, host, pid)
            VALUES ($1, now(), now(), 'skipped', $2, $3, $4)
            RETURNING id
            """,
            [pipeline, Self.storable(reason), self.host, self.pid]
        ).single().int64("id")
    }

    /// Ends a run with `.ok` or `.failed`.
    ///
    /// `.failed` also records `error` as the pipeline's `last_error` and counts one more
    /// consecutive failure; `.ok` resets the consecutive failures. The watermark is not touched.
    ///
    /// - Throws: ``CheckpointError/Code/invalidArgument`` for another status,
    ///   ``CheckpointError/Code/unknownRun`` if the run does not exist or is already finished.
    public func finishRun(runID: Int64, status: RunStatus, error: String? = nil) throws {
        abandonStage()  // a pass that failed with a commit begun ends it here
        guard status == .ok || status == .failed else {
            throw CheckpointError(
                code: .invalidArgument, message: "a run finishes as ok or failed, not \(status.rawValue)", runID: runID
            )
        }
        let connection = self.connection
        try connection.transaction {
            let rows = try connection.query(
                """
                UPDATE otel_bridge.runs SET finished_at = now(), status = $2, error = $3
                WHERE id = $1 AND status = 'running'
                RETURNING pipeline
                """,
                [runID, status.rawValue, Self.storable(error)]
            )
            guard let pipeline = try rows.first?.string("pipeline") else {
                throw CheckpointError(code: .unknownRun, message: "no running run with this id", runID: runID)
            }
            if status == .failed {
                try connection.execute(
                    """
                    UPDATE otel_bridge.checkpoints
                    SET last_error = $2, last_error_at = now(), consecutive_failures = consecutive_failures + 1
                    WHERE pipeline = $1
                    """,
                    [pipeline, Self.storable(error) ?? "failed without an error message"]
                )
            } else {
                try connection.execute(
                    "UPDATE otel_bridge.checkpoints SET consecutive_failures = 0 WHERE pipeline = $1", [pipeline]
                )
            }
        }
    }

    /// The pipeline's most recent runs, newest first.
    public func recentRuns(pipeline: String, limit: Int = 20) throws -> [Run] {
        let rows = try self.connection.query(
            """
            SELECT id, pipeline, started_at, finished_at, window_start, window_end, status, rows_read,
                   points_exported, batches_acknowledged, points_rejected, rejection_message, late_buckets, late_folded, late_unfolded, error, host, pid
            FROM otel_bridge.runs
            WHERE pipeline = $1
            ORDER BY started_at DESC, id DESC
            LIMIT $2
            """,
            [pipeline, limit]
        )
        return try rows.map { row in
            let statusText = try row.string("status")
            guard let status = RunStatus(rawValue: statusText) else {
                throw PostgresError(code: .invalidValue, message: "unknown run status \(statusText)", column: "status")
            }
            return Run(
                id: try row.int64("id"),
                pipeline: try row.string("pipeline"),
                startedAt: try row.instant("started_at"),
                finishedAt: try row.optionalInstant("finished_at"),
                windowStart: try row.optionalInstant("window_start"),
                windowEnd: try row.optionalInstant("window_end"),
                status: status,
                rowsRead: try row.int64("rows_read"),
                pointsExported: try row.int64("points_exported"),
                batchesAcknowledged: try row.int("batches_acknowledged"),
                pointsRejected: try row.int64("points_rejected"),
                rejectionMessage: try row.optionalString("rejection_message"),
                lateBuckets: try row.int("late_buckets"),
                lateFolded: try row.int64("late_folded"),
                lateUnfolded: try row.int64("late_unfolded"),
                error: try row.optionalString("error"),
                host: try row.optionalString("host"),
                pid: try row.decode("pid", as: Int?.self)
            )
        }
    }

    // MARK: - Series state

    private static let seriesColumns = """
        metric, series_id, attributes::text AS attributes, start_time, last_bucket_end,
        int_total, double_total, count, sum, bucket_counts, log_key
        """

    /// Every series of the pipeline as committed (`series_current`: the log applied), ordered by
    /// metric and series id.
    public func loadSeries(pipeline: String) throws -> [SeriesState] {
        try self.connection.query(
            "SELECT \(Self.seriesColumns) FROM otel_bridge.series_current WHERE pipeline = $1 ORDER BY metric, series_id",
            [pipeline]
        ).map(Self.seriesState(from:))
    }

    /// The stored state of those of `ids` that the metric has.
    ///
    /// - Parameter withLog: read `series_current` (the log applied) rather than `series_state`.
    ///   A pass under the pipeline's lock needs not: it merged the log when it began
    ///   (``expireSeries(pipeline:idleBefore:)``) and reads only series it has not changed since.
    public func loadSeries(pipeline: String, metric: String, ids: [String], withLog: Bool = false) throws -> [SeriesState] {
        guard !ids.isEmpty else { return [] }
        return try self.connection.query(
            """
            SELECT \(Self.seriesColumns) FROM otel_bridge.\(withLog ? "series_current" : "series_state")
            WHERE pipeline = $1 AND metric = $2 AND series_id = ANY($3::text[])
            """,
            [pipeline, metric, ids]
        ).map(Self.seriesState(from:))
    }

    /// The ids of every stored series of the metric (at most its cardinality limit).
    public func seriesIDs(pipeline: String, metric: String) throws -> Set<String> {
        var out = Set<String>()
        for row in try self.connection.query(
            "SELECT series_id FROM otel_bridge.series_state WHERE pipeline = $1 AND metric = $2", [pipeline, metric]) {
            out.insert(try row.string("series_id"))
        }
        return out
    }

    /// How many series each metric of the pipeline has stored, not counting `excluding` (the id
    /// of the overflow series, which has a place of its own).
    public func seriesCounts(pipeline: String, excluding: String = "") throws -> [String: Int] {
        var out: [String: Int] = [:]
        for row in try self.connection.query(
            """
            SELECT metric, count(*)::bigint AS n FROM otel_bridge.series_state
            WHERE pipeline = $1 AND series_id <> $2 GROUP BY metric
            """, [pipeline, excluding]) {
            out[try row.string("metric")] = Int(try row.int64("n"))
        }
        return out
    }

    /// Forgets the series whose last bucket ended before `idleBefore` (their cumulative totals
    /// restart if they return). Returns how many were deleted. A cumulative pass calls it first,
    /// under the pipeline's lock: it merges the log an earlier pass left (``mergeSeriesLog(pipeline:)``)
    /// in the same transaction, so that a series is judged by its latest state.
    @discardableResult
    public func expireSeries(pipeline: String, idleBefore: UTCInstant) throws -> Int {
        let connection = self.connection
        let (merged, expired) = try connection.transaction {
            let merged = try self.applySeriesLog(pipeline: pipeline)
            return (merged, try connection.execute(
                "DELETE FROM otel_bridge.series_state WHERE pipeline = $1 AND last_bucket_end < $2", [pipeline, idleBefore]))
        }
        if merged > 0 {
            logger.info("merged the series log an earlier pass left", metadata: ["pipeline": "\(pipeline)", "series": "\(merged)"])
        }
        return expired
    }

    /// Applies the pipeline's log to `series_state` and empties it, in one transaction: each
    /// series takes its latest logged state where that is newer than its row (a state only moves
    /// forward: a series restarted since keeps its row). What a pass starts from after a crash.
    /// Returns how many series rows changed.
    @discardableResult
    public func mergeSeriesLog(pipeline: String) throws -> Int {
        try connection.transaction { try self.applySeriesLog(pipeline: pipeline) }
    }

    private func applySeriesLog(pipeline: String) throws -> Int {
        // One statement, so the rows deleted are exactly the rows applied.
        let merged = try connection.execute(
            """
            WITH gone AS (
                DELETE FROM otel_bridge.series_log WHERE pipeline = $1
                RETURNING seq, log_key, start_us, end_us, int_total, double_total, count, sum, bucket_counts
            ), latest AS (
                SELECT DISTINCT ON (u.log_key) u.*
                FROM gone g, unnest(g.log_key, g.start_us, g.end_us, g.int_total, g.double_total, g.count, g.sum, g.bucket_counts)
                    AS u(log_key, start_us, end_us, int_total, double_total, count, sum, bucket_counts)
                ORDER BY u.log_key, g.seq DESC
            )
            UPDATE otel_bridge.series_state AS s SET
                start_time = timestamptz 'epoch' + n.start_us * interval '1 microsecond',
                last_bucket_end = timestamptz 'epoch' + n.end_us * interval '1 microsecond',
                int_total = n.int_total, double_total = n.double_total, count = n.count, sum = n.sum,
                bucket_counts = n.bucket_counts::bigint[]
            FROM latest AS n
            WHERE s.pipeline = $1 AND s.log_key = n.log_key
              AND timestamptz 'epoch' + n.end_us * interval '1 microsecond' > s.last_bucket_end
            """, [pipeline])
        unmerged.withLock { $0[pipeline] = nil }
        return merged
    }

    /// Brings `series_state` up to date with what this store logged for the pipeline since the
    /// last merge, and empties the log: a pass calls it when it ends, under the pipeline's lock.
    ///
    /// - Throws: ``CheckpointError/Code/lockLost`` without the lock (the log stays, for the pass
    ///   that holds it), ``CheckpointError/Code/seriesStateChanged`` if rows of the logged series
    ///   were deleted meanwhile (nothing changes; the next pass's merge leaves them deleted).
    public func settleSeries(pipeline: String) throws {
        guard let pending = unmerged.withLock({ $0[pipeline] }), !pending.states.isEmpty else { return }
        let connection = self.connection
        try connection.transaction {
            let held = try connection.query("SELECT \(Self.lockHeldCondition(key: "$1")) AS held", [PostgresConnection.lockKey(for: pipeline)]).single()
            guard try held.bool("held") else { throw Self.lockLost(pipeline: pipeline, runID: nil) }
            try self.writeMerge(pending, pipeline: pipeline, runID: nil, expectedLogRows: pending.logRows)
        }
        unmerged.withLock { $0[pipeline] = nil }
    }

    private static func seriesState(from row: PostgresRow) throws -> SeriesState {
        SeriesState(
            metric: try row.string("metric"),
            seriesID: try row.string("series_id"),
            attributesJSON: try row.string("attributes"),
            startTime: try row.instant("start_time"),
            lastBucketEnd: try row.instant("last_bucket_end"),
            intTotal: try row.optionalInt64("int_total"),
            doubleTotal: try row.optionalDouble("double_total"),
            count: try row.optionalInt64("count"),
            sum: try row.optionalDouble("sum"),
            bucketCounts: try row.optionalInt64Array("bucket_counts"),
            logKey: try row.decode("log_key", as: SeriesLogKey.self)
        )
    }

    /// Text from outside (a receiver's message, an error) made storable: a `text` column cannot
    /// hold NUL, and no row should hold megabytes of someone else's text.
    static func storable(_ text: String?) -> String? {
        text.map { PostgresText.sanitized($0, maxBytes: 8_000) }
    }

    // MARK: - Committing

    /// Records an acknowledged batch, all in one transaction: upserts its series, moves the
    /// watermark forward (and sets `updated_at`, `last_success_at`), adds the counters to the run
    /// (`window_end` = the new watermark, one more acknowledged batch) and stores its bucket
    /// digests. Either all of it happens or none.
    ///
    /// - Throws: ``CheckpointError/Code/watermarkRegression`` if the new watermark is before the
    ///   current one (a bug in the caller), ``CheckpointError/Code/unknownPipeline`` if the
    ///   pipeline has no checkpoint, ``CheckpointError/Code/unknownRun`` if the run is not a
    ///   running run of this pipeline, ``CheckpointError/Code/lockLost`` if the commit requires
    ///   the pipeline's lock and this session does not hold it.
    public func commit(_ batch: BatchCommit) throws {
        let pipeline = batch.pipeline, runID = batch.runID, newWatermark = batch.watermark
        let series = batch.series
        let connection = self.connection
        // The books (and series log row) a stage wrote while the batch was in flight, if it is this
        // batch's and it worked: then the commit goes on in that transaction from the books' verdict.
        // Anything else about a stage (another batch's books, a failed write) is rolled back, and
        // the commit does all the work itself.
        let stagedBooks = self.takeStage(for: batch)
        let stagedWrite = stagedBooks != nil
        // The series: new ones inserted; the changes of stored ones appended to the log (unless
        // the stage did), or, once the log is long enough, everything logged since the last merge
        // written into series_state and the log emptied.
        // Taken out (not copied) while the commit runs: a commit that fails leaves none, which is
        // safe: a merge that finds log rows it does not know of applies the log first.
        var pending = unmerged.withLock { $0.removeValue(forKey: pipeline) } ?? UnmergedSeries()
        let stored = Self.stored(series)
        let logRowsBefore = pending.logRows + (stagedWrite ? 1 : 0)
        for i in series.indices { pending.record(series[i]) }
        let logged = pending.logged + stored.count
        let merges = !series.isEmpty && (logged >= self.seriesLogLength * pending.states.count || logged > self.seriesLogStates)
        if !merges && !stored.isEmpty {
            pending.logged += stored.count
            pending.logRows += 1
        }
        let new = stored.count == series.count ? [] : series.filter { !$0.attributesJSON.isEmpty }
        // The log row goes with the books (one statement), unless a stage wrote it or this commit merges.
        let logsWithBooks = !merges && !stored.isEmpty && !stagedWrite
        let body = { () throws -> Void in
            // The books' verdict: the stage's, or the statement run now.
            let moved: PostgresRow
            if let stagedBooks {
                moved = stagedBooks
            } else {
                let (sql, parameters) = Self.books(batch, log: logsWithBooks ? stored : nil)
                moved = try connection.query(sql, parameters).single()
            }
            try Self.check(books: moved, of: batch)
            if !new.isEmpty { try self.upsert(new, pipeline: pipeline) }
            if merges {
                try self.writeMerge(pending, excluding: Set(new.map(\.logKey)),  // just written
                                    pipeline: pipeline, runID: runID, expectedLogRows: logRowsBefore)
            }
            if let gap = batch.gap { try self.recordGap(gap) }
            try self.storeDigests(batch.bucketDigests, pipeline: pipeline)
            if let prune = batch.pruneDigestsBefore {
                try connection.execute("DELETE FROM otel_bridge.bucket_digests WHERE pipeline = $1 AND bucket_start < $2",
                                       [pipeline, prune])
            }
        }
        // A commit of the books alone, or of the books and the series' log row (a delta batch, or a
        // cumulative one between merges with no new series), with no digests or gap, is one
        // statement, which is a transaction of its own: it runs without BEGIN and COMMIT, two round
        // trips fewer per batch. What it refuses it leaves unchanged whichever way it runs (each
        // write in it waits on the books' verdict).
        let oneStatement = !stagedWrite && new.isEmpty && !merges && batch.gap == nil && batch.bucketDigests.isEmpty
            && batch.pruneDigestsBefore == nil && !connection.isInTransaction
        if stagedWrite {
            try connection.completeTransaction(body)
        } else if oneStatement {
            try body()
        } else {
            try connection.transaction(body)
        }
        unmerged.withLock { $0[pipeline] = merges ? nil : pending }
        self.logger.debug("committed batch", metadata: [
            "pipeline": "\(pipeline)", "run": "\(runID)", "watermark": "\(newWatermark.postgresText)",
            "points": "\(batch.pointsExported)", "series": "\(series.count)",
        ])
    }

    /// The books of `batch` as one statement: whether this session still holds the pipeline's lock
    /// when the batch requires it, and the watermark (its row locked until the transaction ends);
    /// and, if they allow it, the run's counters and the watermark moved, and `log` (the states of
    /// series the store holds) appended to `series_log` as one row. What the books refuse is
    /// thrown by ``check(books:of:)``, and the transaction rolled back.
    private static func books(_ batch: BatchCommit, log: [SeriesState]?) -> (String, [(any PostgresBindable)?]) {
        let pipeline = batch.pipeline
        let logged = log.map { stored in
            (
                """
                , logged AS (
                    INSERT INTO otel_bridge.series_log
                        (pipeline, log_key, start_us, end_us, int_total, double_total, count, sum, bucket_counts)
                    SELECT $1, $15::uuid[], $16::bigint[], $17::bigint[], $18::bigint[], $19::float8[], $20::bigint[], $21::float8[], $22::text[]
                    WHERE EXISTS (SELECT 1 FROM checkpoint)
                )
                """,
                Self.logColumns(stored)
            )
        }
        return (
            """
                WITH books AS (
                    SELECT (SELECT watermark FROM otel_bridge.checkpoints WHERE pipeline = $1 FOR UPDATE) AS watermark,
                           (NOT $2::bool OR \(Self.lockHeldCondition(key: "$14"))) AS held
                ), allowed AS (
                    SELECT held AND watermark <= $4::timestamptz AS ok FROM books
                ), run AS (
                    UPDATE otel_bridge.runs
                    SET window_end = $4,
                        rows_read = rows_read + $5,
                        points_exported = points_exported + $6,
                        points_rejected = points_rejected + $7,
                        batches_acknowledged = batches_acknowledged + 1,
                        series_overflowed = series_overflowed + $9,
                        late_buckets = late_buckets + $10,
                        late_folded = late_folded + $11,
                        late_unfolded = late_unfolded + $12,
                        rejection_message = CASE WHEN $8::text IS NULL THEN rejection_message
                                                 ELSE left(concat_ws('; ', rejection_message, $8::text), 4000) END
                    WHERE id = $3 AND pipeline = $1 AND status = 'running' AND (SELECT ok FROM allowed)
                    RETURNING 1
                ), checkpoint AS (
                    UPDATE otel_bridge.checkpoints
                    SET watermark = $4, watermark_id = $13, updated_at = now(), last_success_at = now()
                    WHERE pipeline = $1 AND (SELECT ok FROM allowed) AND EXISTS (SELECT 1 FROM run)
                    RETURNING 1
                )

                """ + (logged?.0 ?? "") + """

                SELECT (SELECT watermark FROM books) AS watermark, (SELECT held FROM books) AS held,
                       (SELECT count(*) FROM run) AS runs
                """,
            [pipeline, batch.requireLock, batch.runID, batch.watermark, batch.rowsRead, batch.pointsExported, batch.pointsRejected,
             Self.storable(batch.rejectionMessage), Int64(batch.seriesOverflowed), Int64(batch.lateBuckets),
             batch.lateFolded, batch.lateUnfolded, batch.watermarkID, PostgresConnection.lockKey(for: pipeline)] + (logged?.1 ?? [])
        )
    }

    /// Throws what the books of ``books(_:log:)`` refused.
    private static func check(books moved: PostgresRow, of batch: BatchCommit) throws {
        let pipeline = batch.pipeline, runID = batch.runID, newWatermark = batch.watermark
        guard try moved.bool("held") else { throw Self.lockLost(pipeline: pipeline, runID: runID) }
        guard let watermark = try moved.optionalInstant("watermark") else {
            throw CheckpointError(code: .unknownPipeline, message: "the pipeline has no checkpoint", pipeline: pipeline)
        }
        // At the precision the books compared them (a timestamptz keeps microseconds), so that what
        // they allowed is never refused here.
        guard UTCInstant(unixMicroseconds: newWatermark.unixMicroseconds) >= watermark else {
            throw CheckpointError(
                code: .watermarkRegression,
                message: "refusing to move the watermark back from \(watermark.postgresText) to \(newWatermark.postgresText)",
                pipeline: pipeline, runID: runID
            )
        }
        guard try moved.int64("runs") == 1 else {
            throw CheckpointError(
                code: .unknownRun, message: "no running run with this id for the pipeline", pipeline: pipeline, runID: runID
            )
        }
    }

    /// The stored digests of `pipeline`'s buckets in `[from, to)`, by bucket start.
    public func bucketDigests(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: String] {
        let rows = try connection.query(
            "SELECT bucket_start, digest FROM otel_bridge.bucket_digests WHERE pipeline = $1 AND bucket_start >= $2 AND bucket_start < $3",
            [pipeline, from, to])
        var out: [UTCInstant: String] = [:]
        for row in rows { out[try row.instant("bucket_start")] = try row.string("digest") }
        return out
    }

    private func recordGap(_ gap: GapRecord) throws {
        try connection.execute(
            """
            INSERT INTO otel_bridge.gap_log (pipeline, run_id, range_start, range_end, buckets, rows_skipped, points_skipped, reason, policy)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """,
            [gap.pipeline, gap.runID, gap.rangeStart, gap.rangeEnd, gap.buckets, gap.rows, gap.points, gap.reason, gap.policy])
    }

    /// The pipeline's most recent gaps (`otel_bridge.gaps`), newest first.
    public func gaps(pipeline: String, limit: Int = 20) throws -> [GapRecord] {
        let rows = try connection.query(
            """
            SELECT pipeline, range_start, range_end, buckets, rows_skipped, points_skipped, reason, policy, run_id, recorded_at
            FROM otel_bridge.gaps WHERE pipeline = $1 ORDER BY recorded_at DESC, range_start DESC LIMIT $2
            """, [pipeline, limit])
        return try rows.map { row in
            GapRecord(pipeline: try row.string("pipeline"), rangeStart: try row.instant("range_start"), rangeEnd: try row.instant("range_end"),
                      buckets: try row.int64("buckets"), rows: try row.decode("rows_skipped", as: Int64?.self),
                      points: try row.decode("points_skipped", as: Int64?.self), reason: try row.string("reason"),
                      policy: try row.string("policy"), runID: try row.decode("run_id", as: Int64?.self),
                      recordedAt: try row.instant("recorded_at"))
        }
    }

    /// The stored records of `pipeline`'s buckets in `[from, to)` with their exported values
    /// (`nil` for a bucket exported without them), by bucket start.
    public func exportedBuckets(pipeline: String, from: UTCInstant, to: UTCInstant) throws -> [UTCInstant: BucketDigestRecord] {
        let rows = try connection.query(
            "SELECT bucket_start, digest, exported FROM otel_bridge.bucket_digests WHERE pipeline = $1 AND bucket_start >= $2 AND bucket_start < $3",
            [pipeline, from, to])
        var out: [UTCInstant: BucketDigestRecord] = [:]
        for row in rows {
            let start = try row.instant("bucket_start")
            out[start] = BucketDigestRecord(bucketStart: start, digest: try row.string("digest"), exported: try row.optionalString("exported"))
        }
        return out
    }

    /// Records buckets that changed after they were exported: their new digests (so each late
    /// arrival is counted once) and their number in the run.
    public func recordLateBuckets(pipeline: String, runID: Int64, digests: [BucketDigestRecord]) throws {
        guard !digests.isEmpty else { return }
        try connection.transaction {
            try self.storeDigests(digests, pipeline: pipeline)
            try connection.execute("UPDATE otel_bridge.runs SET late_buckets = late_buckets + $2 WHERE id = $1",
                                   [runID, Int64(digests.count)])
        }
    }

    private func storeDigests(_ digests: [BucketDigestRecord], pipeline: String) throws {
        guard !digests.isEmpty else { return }
        try connection.execute(
            """
            INSERT INTO otel_bridge.bucket_digests AS d (pipeline, bucket_start, digest, exported)
            SELECT $1, u.bucket_start, u.digest, u.exported
            FROM unnest($2::timestamptz[], $3::text[], $4::text[]) AS u(bucket_start, digest, exported)
            ON CONFLICT (pipeline, bucket_start) DO UPDATE SET digest = excluded.digest, exported = excluded.exported, recorded_at = now()
            """,
            [pipeline, digests.map(\.bucketStart), digests.map(\.digest), digests.map(\.exported)])
    }

    // MARK: - A commit begun while its batch is in flight

    /// Confirms that this session still holds the pipeline's lock, before `batch` is sent, and,
    /// for a batch with states of series the store holds (a cumulative batch), begins its commit:
    /// opens a transaction, sends its books and those states' log row (one statement,
    /// ``books(_:log:)``), and returns without waiting for them, so that Postgres writes them while
    /// the request is in flight. ``commit(_:)`` of the batch as staged (the receiver took all of
    /// it) goes on in that transaction from the books' verdict, ending with `COMMIT`;
    /// ``abandonStage()`` rolls it back (a failed or retried delivery), and a commit of another
    /// batch (a partial success) rolls it back and does all the work itself.
    ///
    /// The transaction, the idle bound and the lock's confirmation are one round trip. Nothing is
    /// committed before ``commit(_:)``: a crash leaves the transaction to die with the session.
    /// The transaction may idle for `holdFor` (the delivery's attempts), so its
    /// `idle_in_transaction_session_timeout` is raised to that plus a minute if it is lower (and
    /// not off).
    ///
    /// - Throws: ``CheckpointError/Code/lockLost`` if this session does not hold the pipeline's
    ///   lock (behind a pooler in transaction mode the session that took it may not be the one
    ///   asking), or the connection's error: the batch must not be sent. A stage whose books cannot
    ///   be sent after the confirmation is simply not there; the commit then does all the work.
    public func stage(_ batch: BatchCommit, holdFor: Duration) throws {
        abandonStage()
        let pipeline = batch.pipeline
        let key = PostgresConnection.lockKey(for: pipeline)
        // A batch without states of stored series to log (a delta batch, spans) has little to
        // write ahead: its books are one statement after the acknowledgement, so its stage is the
        // confirmation alone (a transaction around that statement would cost a BEGIN and a COMMIT).
        let stored = Self.stored(batch.series)
        guard !stored.isEmpty, !connection.isInTransaction else {
            try confirmLockHeld(pipeline: pipeline, runID: batch.runID)
            return
        }
        let holdMilliseconds = (holdFor + .seconds(60)).wholeMilliseconds(roundingUp: true, clampedTo: 1...Int64(Int32.max))
        // Numbers this process computed, not values from outside: the script has no parameters. The
        // key quoted: unquoted, Int64.min's minus would apply after the cast of a number out of range.
        let held: Bool
        do {
            held = try connection.queryScript(
                """
                BEGIN;
                SELECT set_config('idle_in_transaction_session_timeout', \(holdMilliseconds)::text, true)
                WHERE current_setting('idle_in_transaction_session_timeout')::interval <> interval '0'
                  AND current_setting('idle_in_transaction_session_timeout')::interval < interval '\(holdMilliseconds) milliseconds';
                SELECT \(Self.lockHeldCondition(key: "'\(key)'")) AS held
                """).first?.bool("held") == true
        } catch {
            if connection.isInTransaction { connection.rollback(reason: "\(error)") }
            throw error
        }
        guard held else {
            connection.rollback(reason: "the pipeline's lock is not held by this session")
            throw Self.lockLost(pipeline: pipeline, runID: batch.runID)
        }
        do {
            let (sql, parameters) = Self.books(batch, log: stored)
            try connection.start(sql, parameters)
            staged.withLock { $0 = StagedCommit(batch: batch) }
        } catch {
            // A session gone since the confirmation took the lock with it: the batch must not go.
            guard connection.isConnected else { throw error }
            logger.debug("the batch's books not written ahead of the acknowledgement; the commit writes them", metadata: [
                "pipeline": "\(pipeline)", "error": "\(error)",
            ])
            if connection.isInTransaction { connection.rollback(reason: "\(error)") }
        }
    }

    /// The states of series the store holds already (a new series' state carries its attributes).
    private static func stored(_ series: [SeriesState]) -> [SeriesState] {
        // Usually every state updates a stored row: then the array itself, no state copied.
        guard series.contains(where: { !$0.attributesJSON.isEmpty }) else { return series }
        var stored: [SeriesState] = []
        stored.reserveCapacity(series.count)
        for i in series.indices where series[i].attributesJSON.isEmpty { stored.append(series[i]) }
        return stored
    }

    /// Rolls back a commit begun by ``stage(_:holdFor:)``, if one is open.
    public func abandonStage() {
        guard let stage = staged.withLock({ s in defer { s = nil }; return s }) else { return }
        _ = try? connection.finish()
        connection.rollback(reason: "the delivery of the staged batch of \(stage.batch.pipeline) failed or waits to retry")
    }

    /// The open stage's books, if it staged exactly `batch` and they were written: the stage is then
    /// taken and its transaction left open for the commit. Any other stage is rolled back.
    private func takeStage(for batch: BatchCommit) -> PostgresRow? {
        guard let stage = staged.withLock({ s in defer { s = nil }; return s }) else { return nil }
        let written = Result { try connection.finish().single() }
        if stage.isStage(of: batch), case .success(let books) = written {
            return books
        }
        connection.rollback(reason: "the staged books of \(stage.batch.pipeline) are not the committed batch's, or their write failed")
        return nil
    }

    /// The update of series the store holds, as one statement: each column one array parameter.
    private static func seriesUpdate(_ stored: [SeriesState], pipeline: String) -> (String, [(any PostgresBindable)?]) {
        (
            """
            UPDATE otel_bridge.series_state AS s SET
                start_time = timestamptz 'epoch' + u.start_us * interval '1 microsecond',
                last_bucket_end = timestamptz 'epoch' + u.end_us * interval '1 microsecond',
                int_total = u.int_total, double_total = u.double_total, count = u.count, sum = u.sum,
                bucket_counts = u.bucket_counts::bigint[]
            FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[],
                        $6::bigint[], $7::float8[], $8::bigint[], $9::float8[], $10::text[])
                AS u(metric, series_id, start_us, end_us, int_total, double_total, count, sum, bucket_counts)
            WHERE s.pipeline = $1 AND s.metric = u.metric AND s.series_id = u.series_id
            """,
            [
                // Times as microseconds since the epoch: Postgres parses numbers faster than timestamps.
                pipeline, stored.map(\.metric), stored.map(\.seriesID),
                stored.map(\.startTime.unixMicroseconds), stored.map(\.lastBucketEnd.unixMicroseconds),
                stored.map(\.intTotal), stored.map(\.doubleTotal), stored.map(\.count), stored.map(\.sum),
                stored.map { $0.bucketCounts?.postgresText },
            ]
        )
    }

    /// The log row's columns of series the store holds (``books(_:log:)``'s `$15`…`$22`): each
    /// column one array, the series named by their log keys.
    private static func logColumns(_ stored: [SeriesState]) -> [(any PostgresBindable)?] {
        [
            stored.map(\.logKey),
            stored.map(\.startTime.unixMicroseconds), stored.map(\.lastBucketEnd.unixMicroseconds),
            Self.column(stored, \.intTotal), Self.column(stored, \.doubleTotal), Self.column(stored, \.count),
            Self.column(stored, \.sum), Self.column(stored) { $0.bucketCounts?.postgresText },
        ]
    }

    /// A log column: `nil` (SQL `NULL`) when no state has a value there (a Sum has no histogram
    /// columns), which `unnest` reads as `NULL` for every series.
    private static func column<T: PostgresArrayElement>(_ states: [SeriesState], _ value: (SeriesState) -> T?) -> [T?]? {
        guard states.contains(where: { value($0) != nil }) else { return nil }
        return states.map(value)
    }

    /// Writes the states logged since the last merge into `series_state` and empties the log, in
    /// the caller's transaction. `expectedLogRows`: the log rows this store wrote since; any other
    /// (left by a pass that ended without merging) are applied first.
    private func writeMerge(_ pending: UnmergedSeries, excluding written: Set<SeriesLogKey> = [], pipeline: String, runID: Int64?,
                            expectedLogRows: Int) throws {
        let logRows = try connection.query("SELECT count(*) AS n FROM otel_bridge.series_log WHERE pipeline = $1", [pipeline]).single().int64("n")
        if logRows != Int64(expectedLogRows) { _ = try self.applySeriesLog(pipeline: pipeline) }
        let states = written.isEmpty ? pending.states : pending.states.filter { !written.contains($0.logKey) }
        if !states.isEmpty {
            let (sql, parameters) = Self.seriesUpdate(states, pipeline: pipeline)
            let updated = try self.connection.execute(sql, parameters)
            guard updated == states.count else {
                // Only an operator deleting rows behind the pipeline's lock does this.
                throw CheckpointError(code: .seriesStateChanged,
                                      message: "\(states.count - updated) of the series the pass changed are no longer in series_state (deleted while the pipeline ran?)",
                                      pipeline: pipeline, runID: runID)
            }
        }
        if logRows == Int64(expectedLogRows), logRows > 0 {
            try connection.execute("DELETE FROM otel_bridge.series_log WHERE pipeline = $1", [pipeline])
        }
    }

    /// One statement for all rows: each column goes as one array parameter and `unnest` zips them
    /// back into rows. A series' attributes are its identity: written when its row is inserted,
    /// never changed after (a state whose `attributesJSON` is empty updates a stored row). `bucket_counts` travels as text (`{1,2}`) per row, since a two-dimensional
    /// array cannot hold rows of different lengths.
    private func upsert(_ series: [SeriesState], pipeline: String) throws {
        try self.connection.execute(
            """
            INSERT INTO otel_bridge.series_state AS s
                (pipeline, metric, series_id, attributes, start_time, last_bucket_end,
                 int_total, double_total, count, sum, bucket_counts, log_key)
            SELECT $1, u.metric, u.series_id, COALESCE(NULLIF(u.attributes, '')::jsonb, '{}'::jsonb), u.start_time, u.last_bucket_end,
                   u.int_total, u.double_total, u.count, u.sum, u.bucket_counts::bigint[], u.log_key
            FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
                        $7::bigint[], $8::float8[], $9::bigint[], $10::float8[], $11::text[], $12::uuid[])
                AS u(metric, series_id, attributes, start_time, last_bucket_end,
                     int_total, double_total, count, sum, bucket_counts, log_key)
            ON CONFLICT (pipeline, metric, series_id) DO UPDATE SET
                start_time = excluded.start_time,
                last_bucket_end = excluded.last_bucket_end,
                int_total = excluded.int_total,
                double_total = excluded.double_total,
                count = excluded.count,
                sum = excluded.sum,
                bucket_counts = excluded.bucket_counts
            """,
            [
                pipeline,
                series.map(\.metric),
                series.map(\.seriesID),
                series.map(\.attributesJSON),
                series.map(\.startTime),
                series.map(\.lastBucketEnd),
                series.map(\.intTotal),
                series.map(\.doubleTotal),
                series.map(\.count),
                series.map(\.sum),
                series.map { $0.bucketCounts?.postgresText },
                series.map(\.logKey),
            ]
        )
    }

    // MARK: - Operator actions

    /// Sets the pipeline's watermark to `time` (back or forward; the caller decides what is
    /// allowed) and deletes its series state, so cumulative series restart with a new start time
    /// on the next export. Creates the checkpoint if the pipeline has none. Records no run.
    ///
    /// Take the pipeline's lock first, or a running pass may commit over the rewind.
    ///
    /// - Returns: the number of series rows deleted.
    @discardableResult
    public func rewind(pipeline: String, to time: UTCInstant, gap: GapRecord? = nil) throws -> Int {
        let connection = self.connection
        let deleted = try connection.transaction {
            if let gap { try self.recordGap(gap) }
            try connection.execute(
                """
                INSERT INTO otel_bridge.checkpoints (pipeline, watermark) VALUES ($1, $2)
                ON CONFLICT (pipeline) DO UPDATE SET watermark = excluded.watermark, watermark_id = NULL, updated_at = now()
                """,
                [pipeline, time]
            )
            // Digests of buckets about to be exported again are stale.
            try connection.execute("DELETE FROM otel_bridge.bucket_digests WHERE pipeline = $1", [pipeline])
            try connection.execute("DELETE FROM otel_bridge.series_log WHERE pipeline = $1", [pipeline])
            return try connection.execute("DELETE FROM otel_bridge.series_state WHERE pipeline = $1", [pipeline])
        }
        unmerged.withLock { $0[pipeline] = nil }
        self.logger.notice("rewound pipeline", metadata: [
            "pipeline": "\(pipeline)", "watermark": "\(time.postgresText)", "series_deleted": "\(deleted)",
        ])
        return deleted
    }

    /// Every pipeline's row of the `otel_bridge.pipeline_status` view, ordered by pipeline.
    public func statuses() throws -> [PipelineStatus] {
        let rows = try self.connection.query(
            """
            SELECT pipeline, watermark, extract(epoch FROM behind)::float8 AS behind_seconds, updated_at,
                   last_success_at, last_error, last_error_at, consecutive_failures, last_run_status,
                   last_run_finished_at, locked, late_buckets_24h, series_overflowed_24h, late_folded_24h, late_unfolded_24h, points_skipped_24h,
                   (SELECT min(f.started_at) FROM otel_bridge.runs f
                    WHERE f.pipeline = s.pipeline AND f.status = 'failed'
                      AND f.started_at > coalesce((SELECT max(o.started_at) FROM otel_bridge.runs o
                                                   WHERE o.pipeline = s.pipeline AND o.status = 'ok'), '-infinity')) AS failing_since
            FROM otel_bridge.pipeline_status s
            ORDER BY pipeline
            """
        )
        return try rows.map { row in
            PipelineStatus(
                pipeline: try row.string("pipeline"),
                watermark: try row.instant("watermark"),
                behind: Duration(seconds: try row.double("behind_seconds")) ?? .zero,
                updatedAt: try row.instant("updated_at"),
                lastSuccessAt: try row.optionalInstant("last_success_at"),
                lastError: try row.optionalString("last_error"),
                lastErrorAt: try row.optionalInstant("last_error_at"),
                consecutiveFailures: try row.int("consecutive_failures"),
                lastRunStatus: try row.optionalString("last_run_status").flatMap(RunStatus.init(rawValue:)),
                lastRunFinishedAt: try row.optionalInstant("last_run_finished_at"),
                locked: try row.bool("locked"),
                lateBuckets24h: try row.int64("late_buckets_24h"),
                seriesOverflowed24h: try row.int64("series_overflowed_24h"),
                lateFolded24h: try row.int64("late_folded_24h"),
                lateUnfolded24h: try row.int64("late_unfolded_24h"),
                pointsSkipped24h: try row.int64("points_skipped_24h"),
                failingSince: try row.optionalInstant("failing_since")
            )
        }
    }

    private static func checkpoint(from row: PostgresRow) throws -> Checkpoint {
        Checkpoint(
            pipeline: try row.string("pipeline"),
            watermark: try row.instant("watermark"),
            updatedAt: try row.instant("updated_at"),
            createdAt: try row.instant("created_at"),
            lastSuccessAt: try row.optionalInstant("last_success_at"),
            lastError: try row.optionalString("last_error"),
            lastErrorAt: try row.optionalInstant("last_error_at"),
            consecutiveFailures: try row.int("consecutive_failures")
        )
    }
}

/// A commit's books sent ahead of its batch's acknowledgement, in an open transaction.
private struct StagedCommit: Sendable {
    /// The batch as staged: its commit if the receiver takes all of it.
    let batch: BatchCommit

    /// Whether `commit` is the staged batch: the same books and the same series. The series are
    /// compared by their storage first (the commit's array is the staged one, which no one
    /// changes while it is shared), then by value.
    func isStage(of commit: BatchCommit) -> Bool {
        var a = batch, b = commit
        a.series = []
        b.series = []
        guard a == b, commit.series.count == batch.series.count else { return false }
        let same = commit.series.withUnsafeBufferPointer { x in batch.series.withUnsafeBufferPointer { y in x.baseAddress == y.baseAddress } }
        return same || commit.series == batch.series
    }
}

/// What a store committed of a pipeline's series since `series_state` was last brought up to date.
private struct UnmergedSeries: Sendable {
    /// Each series' latest committed state, in the order the series first changed since: one
    /// compact array, a commit's state assigned in place (a dictionary of states scattered them
    /// over a table larger than the cache, and moved each twice).
    private(set) var states: [SeriesState] = []
    /// `states`' log keys, in the same order.
    private var keys: [SeriesLogKey] = []
    /// Where each series' state is in `states`: an open-addressing table of positions (-1: empty),
    /// at most half full. A commit looks up every state it commits, 5,000 a commit at 5,000
    /// series: a `Dictionary` hashed each 16-byte key with SipHash and was a quarter of the
    /// committing worker's time. The key is 128 bits of SHA-256 already; the process's seed mixed
    /// in keeps series whose attributes were chosen to share low bits from lining up.
    private var slots: [Int32] = []
    /// The states and the rows appended to `series_log` since.
    var logged = 0
    var logRows = 0

    private static let seed = UInt64.random(in: .min ... .max)

    /// `state` as its series' latest.
    mutating func record(_ state: SeriesState) {
        if (keys.count + 1) * 2 > slots.count { grow() }
        let key = state.logKey
        let mask = slots.count - 1
        var i = Self.slot(of: key, mask: mask)
        while true {
            let p = Int(slots[i])
            if p < 0 {
                slots[i] = Int32(keys.count)
                keys.append(key)
                states.append(state)
                return
            }
            if keys[p] == key {
                states[p] = state
                return
            }
            i = (i + 1) & mask
        }
    }

    private static func slot(of key: SeriesLogKey, mask: Int) -> Int {
        var x = (key.high ^ seed) &* 0x9E37_79B9_7F4A_7C15
        x ^= key.low
        x = (x ^ (x >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return Int(truncatingIfNeeded: x ^ (x >> 32)) & mask
    }

    /// Twice the slots (at least 64), every position placed again.
    private mutating func grow() {
        let count = Swift.max(64, slots.count * 2)
        slots = Array(repeating: -1, count: count)
        let mask = count - 1
        for (p, key) in keys.enumerated() {
            var i = Self.slot(of: key, mask: mask)
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(p)
        }
    }
}
