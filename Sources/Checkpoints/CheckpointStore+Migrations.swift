import Logging
import Postgres

/// One step of the checkpoint schema. Versions are applied in ascending order, each at most once,
/// and recorded in `otel_bridge.schema_migrations`. A shipped migration is never edited: changes
/// come as a new version.
public struct Migration: Sendable, Equatable {
    /// Position in the order of application; also the primary key in `schema_migrations`.
    public var version: Int
    /// A short name for logs and `schema_migrations.name`.
    public var name: String
    /// Fixed SQL, possibly several statements.
    public var sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

extension CheckpointStore {
    /// The key of the transaction-scoped advisory lock that serialises concurrent ``migrate()``
    /// calls: the ASCII bytes of `otel-mig` (0x6f74656c2d6d6967). A fixed value rather than
    /// ``PostgresConnection/lockKey(for:)`` so that no pipeline name can collide with it.
    public static let migrationLockKey: Int64 = 0x6f74_656c_2d6d_6967

    /// Creates schema `otel_bridge` and applies the migrations this database lacks, in order, in
    /// one transaction, under a transaction-scoped advisory lock so that bridges starting at the
    /// same time do not race. Running it again changes nothing.
    ///
    /// The schema and `schema_migrations` are created only when missing, so on an up-to-date
    /// schema this needs no `CREATE` privilege: `USAGE` on the schema and `SELECT` on
    /// `schema_migrations` are enough. Waiting for the migration lock is bounded by the session's
    /// `lock_timeout` (10 s by default): another bridge migrating for longer, or a session holding
    /// the lock, makes this throw ``PostgresError/Code/lockTimeout`` saying so.
    ///
    /// - Returns: the migrations applied now (empty if the schema was up to date).
    @discardableResult
    public func migrate() throws -> [Migration] {
        let connection = self.connection
        return try connection.transaction {
            do {
                try connection.query("SELECT pg_advisory_xact_lock($1)", [Self.migrationLockKey])
            } catch let error as PostgresError where error.code == .lockTimeout {
                throw PostgresError(
                    code: .lockTimeout,
                    message: "another bridge is migrating the checkpoint schema or a session holds the migration lock "
                        + "(advisory lock \(Self.migrationLockKey)); gave up after lock_timeout. The holder: "
                        + "SELECT pid, application_name, state, xact_start FROM pg_locks JOIN pg_stat_activity USING (pid) "
                        + "WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
                        + "AND ((classid::bigint << 32) | objid::bigint) = \(Self.migrationLockKey)",
                    sqlState: error.sqlState,
                    query: error.query,
                    file: error.file,
                    line: error.line
                )
            }
            // A role with only the run-time grants (docs/checkpoints.md) cannot create: say what to do.
            func creating(_ what: String, _ body: () throws -> Void) throws {
                do {
                    try body()
                } catch var error as PostgresError where error.sqlState == "42501" {
                    error.hint = "creating \(what) needs CREATE on the database or schema otel_bridge: run this bridge version "
                        + "once with the schema owner's role (docs/checkpoints.md, Privileges)"
                    throw error
                }
            }
            // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists,
            // and CREATE TABLE IF NOT EXISTS needs CREATE on the schema: look first.
            let existing = try connection.query("""
                SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'otel_bridge') AS schema_exists,
                       to_regclass('otel_bridge.schema_migrations') IS NOT NULL AS table_exists
                """).single()
            if !(try existing.bool("schema_exists")) {
                try creating("schema otel_bridge") { try connection.executeScript("CREATE SCHEMA IF NOT EXISTS otel_bridge") }
            }
            if !(try existing.bool("table_exists")) {
                try creating("otel_bridge.schema_migrations") {
                    try connection.executeScript("""
                    CREATE TABLE IF NOT EXISTS otel_bridge.schema_migrations (
                        version    int PRIMARY KEY,
                        name       text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    );
                    """)
                }
            }
            var present: Set<Int> = []
            for row in try connection.query("SELECT version FROM otel_bridge.schema_migrations") {
                present.insert(try row.int("version"))
            }
            let known = Set(Self.migrations.map(\.version))
            if let unknown = present.subtracting(known).max() {
                self.logger.warning(
                    "the checkpoint schema has a migration this version of otel-bridge does not know; a newer bridge migrated it",
                    metadata: ["version": "\(unknown)"]
                )
            }
            var applied: [Migration] = []
            for migration in Self.migrations.sorted(by: { $0.version < $1.version })
            where !present.contains(migration.version) {
                try creating("migration \(migration.version) (\(migration.name))") { try connection.executeScript(migration.sql) }
                try connection.execute(
                    "INSERT INTO otel_bridge.schema_migrations (version, name, applied_at) VALUES ($1, $2, now())",
                    [migration.version, migration.name]
                )
                self.logger.info("applied checkpoint schema migration", metadata: [
                    "version": "\(migration.version)", "name": "\(migration.name)",
                ])
                applied.append(migration)
            }
            if applied.isEmpty {
                self.logger.debug("checkpoint schema is up to date", metadata: ["version": "\(present.max() ?? 0)"])
            }
            return applied
        }
    }

    /// Every migration of the checkpoint schema, in order.
    public static let migrations: [Migration] = [
        Migration(version: 1, name: "checkpoints, runs, series_state, pipeline_status", sql: #"""
            CREATE TABLE otel_bridge.checkpoints (
                pipeline             text PRIMARY KEY,
                watermark            timestamptz NOT NULL,
                updated_at           timestamptz NOT NULL DEFAULT now(),
                created_at           timestamptz NOT NULL DEFAULT now(),
                last_success_at      timestamptz,
                last_error           text,
                last_error_at        timestamptz,
                consecutive_failures int NOT NULL DEFAULT 0
            );
            COMMENT ON TABLE otel_bridge.checkpoints IS
                'One row per pipeline. Every bucket ending at or before watermark has been exported and acknowledged.';

            CREATE TABLE otel_bridge.runs (
                id                   bigserial PRIMARY KEY,
                pipeline             text NOT NULL,
                started_at           timestamptz NOT NULL,
                finished_at          timestamptz,
                window_start         timestamptz,
                window_end           timestamptz,
                status               text NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped')),
                rows_read            bigint NOT NULL DEFAULT 0,
                points_exported      bigint NOT NULL DEFAULT 0,
                batches_acknowledged int NOT NULL DEFAULT 0,
                points_rejected      bigint NOT NULL DEFAULT 0,
                error                text,
                host                 text,
                pid                  int
            );
            CREATE INDEX runs_pipeline_started_at ON otel_bridge.runs (pipeline, started_at DESC);
            COMMENT ON TABLE otel_bridge.runs IS
                'One row per pass of a pipeline; status running while the pass is in flight.';

            CREATE TABLE otel_bridge.series_state (
                pipeline        text NOT NULL,
                metric          text NOT NULL,
                series_key      text NOT NULL,
                attributes      jsonb NOT NULL,
                start_time      timestamptz NOT NULL,
                last_bucket_end timestamptz NOT NULL,
                int_total       bigint,
                double_total    double precision,
                count           bigint,
                sum             double precision,
                bucket_counts   bigint[],
                PRIMARY KEY (pipeline, metric, series_key)
            );
            COMMENT ON TABLE otel_bridge.series_state IS
                'Cumulative running totals per series, committed with the watermark that covers them.';

            -- The advisory lock key of a pipeline, as PostgresConnection.lockKey(for:) computes it:
            -- FNV-1a 64 over the UTF-8 bytes of 'otel_bridge:' || name, as a signed bigint.
            CREATE FUNCTION otel_bridge.lock_key(name text) RETURNS bigint
            LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
            DECLARE
                bytes bytea := convert_to('otel_bridge:' || name, 'UTF8');
                hash numeric := 14695981039346656037;
                low int;
            BEGIN
                FOR i IN 0 .. length(bytes) - 1 LOOP
                    low := mod(hash, 256)::int;
                    hash := hash - low + (low # get_byte(bytes, i));
                    hash := mod(hash * 1099511628211, 18446744073709551616);
                END LOOP;
                IF hash >= 9223372036854775808 THEN
                    hash := hash - 18446744073709551616;
                END IF;
                RETURN hash::bigint;
            END
            $$;

            CREATE VIEW otel_bridge.pipeline_status AS
            SELECT c.pipeline,
                   c.watermark,
                   now() - c.watermark AS behind,
                   c.updated_at,
                   c.last_success_at,
                   c.last_error,
                   c.last_error_at,
                   c.consecutive_failures,
                   r.status AS last_run_status,
                   r.finished_at AS last_run_finished_at,
                   EXISTS (
                       SELECT 1
                       FROM pg_catalog.pg_locks l
                       WHERE l.locktype = 'advisory'
                         AND l.granted
                         AND l.objsubid = 1
                         AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
                         AND ((l.classid::bigint << 32) | l.objid::bigint) = otel_bridge.lock_key(c.pipeline)
                   ) AS locked
            FROM otel_bridge.checkpoints c
            LEFT JOIN LATERAL (
                SELECT status, finished_at
                FROM otel_bridge.runs
                WHERE runs.pipeline = c.pipeline
                ORDER BY started_at DESC, id DESC
                LIMIT 1
            ) r ON true;
            """#),
        Migration(version: 2, name: "runs.rejection_message", sql: #"""
            -- What the OTLP receiver said when it accepted a batch only partially (its
            -- partial_success.error_message), next to runs.points_rejected.
            ALTER TABLE otel_bridge.runs ADD COLUMN rejection_message text;
            """#),
        Migration(version: 3, name: "bucket_digests, runs.late_buckets", sql: #"""
            -- Late data: a digest of each recently exported bucket, so a later pass can query the
            -- bucket again and see whether rows arrived after it was exported.
            CREATE TABLE otel_bridge.bucket_digests (
                pipeline      text NOT NULL,
                bucket_start  timestamptz NOT NULL,
                digest        text NOT NULL,
                recorded_at   timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (pipeline, bucket_start)
            );
            ALTER TABLE otel_bridge.runs ADD COLUMN late_buckets int NOT NULL DEFAULT 0;
            CREATE OR REPLACE VIEW otel_bridge.pipeline_status AS
            SELECT c.pipeline,
                   c.watermark,
                   now() - c.watermark AS behind,
                   c.updated_at,
                   c.last_success_at,
                   c.last_error,
                   c.last_error_at,
                   c.consecutive_failures,
                   r.status AS last_run_status,
                   r.finished_at AS last_run_finished_at,
                   EXISTS (
                       SELECT 1
                       FROM pg_catalog.pg_locks l
                       WHERE l.locktype = 'advisory'
                         AND l.granted
                         AND l.objsubid = 1
                         AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
                         AND ((l.classid::bigint << 32) | l.objid::bigint) = otel_bridge.lock_key(c.pipeline)
                   ) AS locked,
                   (SELECT coalesce(sum(late_buckets), 0)
                    FROM otel_bridge.runs lr
                    WHERE lr.pipeline = c.pipeline AND lr.started_at > now() - interval '24 hours') AS late_buckets_24h
            FROM otel_bridge.checkpoints c
            LEFT JOIN LATERAL (
                SELECT status, finished_at
                FROM otel_bridge.runs
                WHERE runs.pipeline = c.pipeline
                ORDER BY started_at DESC, id DESC
                LIMIT 1
            ) r ON true;
            """#),
        Migration(version: 4, name: "series_state keyed by series_id; runs.series_overflowed", sql: #"""
            -- A series is identified by the SHA-256 of its canonical attribute key (64 hex digits),
            -- so any attribute value a tenant writes (a NUL, 10 kB of text) fits the primary key.
            -- SeriesID.of(key) in Swift computes the same digest over the key's UTF-8 bytes.
            ALTER TABLE otel_bridge.series_state ADD COLUMN series_id text;
            UPDATE otel_bridge.series_state SET series_id = encode(sha256(convert_to(series_key, 'UTF8')), 'hex');
            ALTER TABLE otel_bridge.series_state DROP CONSTRAINT series_state_pkey;
            ALTER TABLE otel_bridge.series_state DROP COLUMN series_key;
            ALTER TABLE otel_bridge.series_state ALTER COLUMN series_id SET NOT NULL;
            ALTER TABLE otel_bridge.series_state ADD PRIMARY KEY (pipeline, metric, series_id);
            -- Idle series expire (series_expiry): found by their last bucket.
            CREATE INDEX series_state_idle ON otel_bridge.series_state (pipeline, last_bucket_end);
            -- Series aggregated into otel.metric.overflow=true because a metric reached its
            -- cardinality_limit, per run.
            ALTER TABLE otel_bridge.runs ADD COLUMN series_overflowed int NOT NULL DEFAULT 0;
            CREATE OR REPLACE VIEW otel_bridge.pipeline_status AS
            SELECT c.pipeline,
                   c.watermark,
                   now() - c.watermark AS behind,
                   c.updated_at,
                   c.last_success_at,
                   c.last_error,
                   c.last_error_at,
                   c.consecutive_failures,
                   r.status AS last_run_status,
                   r.finished_at AS last_run_finished_at,
                   EXISTS (
                       SELECT 1
                       FROM pg_catalog.pg_locks l
                       WHERE l.locktype = 'advisory'
                         AND l.granted
                         AND l.objsubid = 1
                         AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
                         AND ((l.classid::bigint << 32) | l.objid::bigint) = otel_bridge.lock_key(c.pipeline)
                   ) AS locked,
                   (SELECT coalesce(sum(late_buckets), 0)
                    FROM otel_bridge.runs lr
                    WHERE lr.pipeline = c.pipeline AND lr.started_at > now() - interval '24 hours') AS late_buckets_24h,
                   (SELECT coalesce(sum(series_overflowed), 0)
                    FROM otel_bridge.runs orr
                    WHERE orr.pipeline = c.pipeline AND orr.started_at > now() - interval '24 hours') AS series_overflowed_24h
            FROM otel_bridge.checkpoints c
            LEFT JOIN LATERAL (
                SELECT status, finished_at
                FROM otel_bridge.runs
                WHERE runs.pipeline = c.pipeline
                ORDER BY started_at DESC, id DESC
                LIMIT 1
            ) r ON true;
            """#),
        Migration(version: 5, name: "checkpoints.watermark_id (keyset watermarks of gen_ai_traces)", sql: #"""
            -- A keyset pipeline (gen_ai_traces) exports rows in the order (created_at, id): its
            -- watermark is the last exported row's created_at, and watermark_id that row's id.
            -- NULL: no row at the watermark is exported yet (the rollups, a new or rewound pipeline).
            ALTER TABLE otel_bridge.checkpoints ADD COLUMN watermark_id text;
            """#),
        Migration(version: 6, name: "series_state updated in place (HOT)", sql: #"""
            -- A cumulative pass updates every series it touches at every commit. With no index on
            -- the columns it changes and room left in each page, Postgres rewrites a row in place
            -- (a heap-only tuple) instead of adding index entries for each version. The idle
            -- series a pass expires are found among the pipeline's rows by the primary key.
            DROP INDEX IF EXISTS otel_bridge.series_state_idle;
            ALTER TABLE otel_bridge.series_state SET (fillfactor = 50);
            """#),
        Migration(version: 7, name: "late rows folded (bucket_digests.exported, runs.late_folded/late_unfolded); gaps", sql: #"""
            -- late_data: fold. Each recent bucket's series' own values as exported (one line per
            -- series), the baseline a later pass measures late rows against; NULL for buckets
            -- exported before (or under late_data: report), which are reported, not folded.
            ALTER TABLE otel_bridge.bucket_digests ADD COLUMN exported text;
            -- Per run: series differences (a series in a bucket that changed after its export)
            -- folded into the run's points, and those that could not be folded.
            ALTER TABLE otel_bridge.runs ADD COLUMN late_folded bigint NOT NULL DEFAULT 0;
            ALTER TABLE otel_bridge.runs ADD COLUMN late_unfolded bigint NOT NULL DEFAULT 0;
            -- Buckets the watermark passed without sending them: too old for the backend
            -- (max_point_age) or skipped by an operator (checkpoints rewind --skip-ahead).
            CREATE TABLE otel_bridge.gap_log (
                id           bigserial PRIMARY KEY,
                pipeline     text NOT NULL,
                run_id       bigint,
                recorded_at  timestamptz NOT NULL DEFAULT now(),
                range_start  timestamptz NOT NULL,
                range_end    timestamptz NOT NULL,
                buckets      bigint NOT NULL,
                rows_skipped bigint,
                points_skipped bigint,
                reason       text NOT NULL,
                policy       text NOT NULL
            );
            CREATE INDEX gap_log_pipeline_recorded_at ON otel_bridge.gap_log (pipeline, recorded_at DESC);
            CREATE VIEW otel_bridge.gaps AS
            SELECT pipeline, range_start, range_end, range_end - range_start AS span, buckets, rows_skipped,
                   points_skipped, reason, policy, run_id, recorded_at
            FROM otel_bridge.gap_log;
            CREATE OR REPLACE VIEW otel_bridge.pipeline_status AS
            SELECT c.pipeline,
                   c.watermark,
                   now() - c.watermark AS behind,
                   c.updated_at,
                   c.last_success_at,
                   c.last_error,
                   c.last_error_at,
                   c.consecutive_failures,
                   r.status AS last_run_status,
                   r.finished_at AS last_run_finished_at,
                   EXISTS (
                       SELECT 1
                       FROM pg_catalog.pg_locks l
                       WHERE l.locktype = 'advisory'
                         AND l.granted
                         AND l.objsubid = 1
                         AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
                         AND ((l.classid::bigint << 32) | l.objid::bigint) = otel_bridge.lock_key(c.pipeline)
                   ) AS locked,
                   d.late_buckets_24h,
                   d.series_overflowed_24h,
                   d.late_folded_24h,
                   d.late_unfolded_24h,
                   (SELECT coalesce(sum(points_skipped), 0)
                    FROM otel_bridge.gap_log g
                    WHERE g.pipeline = c.pipeline AND g.recorded_at > now() - interval '24 hours') AS points_skipped_24h
            FROM otel_bridge.checkpoints c
            LEFT JOIN LATERAL (
                SELECT status, finished_at
                FROM otel_bridge.runs
                WHERE runs.pipeline = c.pipeline
                ORDER BY started_at DESC, id DESC
                LIMIT 1
            ) r ON true
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(late_buckets), 0) AS late_buckets_24h,
                       coalesce(sum(series_overflowed), 0) AS series_overflowed_24h,
                       coalesce(sum(late_folded), 0) AS late_folded_24h,
                       coalesce(sum(late_unfolded), 0) AS late_unfolded_24h
                FROM otel_bridge.runs dr
                WHERE dr.pipeline = c.pipeline AND dr.started_at > now() - interval '24 hours'
            ) d;
            """#),
        Migration(version: 8, name: "series_log: a commit appends the series it changed, merged into series_state later", sql: #"""
            -- A cumulative commit changed one series_state row per point. Now it appends one row
            -- here (the changed series' states as arrays, by log_key) and series_state is brought up
            -- to date every few commits, at the end of a pass, and from the log at the start of the
            -- next pass after a crash. series_current shows the states with the log applied.
            CREATE FUNCTION otel_bridge.series_log_key(metric text, series_id text) RETURNS uuid
                LANGUAGE sql STABLE PARALLEL SAFE
                AS $$ SELECT encode(substr(sha256(convert_to(metric || E'\n' || series_id, 'UTF8')), 1, 16), 'hex')::uuid $$;
            COMMENT ON FUNCTION otel_bridge.series_log_key(text, text) IS
                'The key of a series in series_log: the first 16 bytes of SHA-256 of metric, newline, series_id (SeriesID.logKey in Swift).';
            ALTER TABLE otel_bridge.series_state ADD COLUMN log_key uuid;
            UPDATE otel_bridge.series_state SET log_key = otel_bridge.series_log_key(metric, series_id);
            ALTER TABLE otel_bridge.series_state ALTER COLUMN log_key SET NOT NULL;
            -- Never changed by an update, so the rows are still rewritten in place (HOT).
            CREATE UNIQUE INDEX series_state_log_key ON otel_bridge.series_state (pipeline, log_key);
            -- A bridge of an earlier version (still running during a rolling update) inserts rows
            -- without the key: it is filled in, rather than its commit failing after its batch was
            -- acknowledged.
            CREATE FUNCTION otel_bridge.series_state_log_key() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.log_key IS NULL THEN
                    NEW.log_key := otel_bridge.series_log_key(NEW.metric, NEW.series_id);
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER series_state_log_key BEFORE INSERT ON otel_bridge.series_state
                FOR EACH ROW EXECUTE FUNCTION otel_bridge.series_state_log_key();
            CREATE TABLE otel_bridge.series_log (
                pipeline      text NOT NULL,
                seq           bigserial,
                logged_at     timestamptz NOT NULL DEFAULT now(),
                -- One element per series; times in microseconds since the epoch. A column no
                -- series has a value in is NULL (unnest reads it as NULL for each).
                log_key       uuid[] NOT NULL,
                start_us      bigint[] NOT NULL,
                end_us        bigint[] NOT NULL,
                int_total     bigint[],
                double_total  float8[],
                count         bigint[],
                sum           float8[],
                bucket_counts text[],
                PRIMARY KEY (pipeline, seq)
            );
            -- Numbers do not compress: storing them as they are costs less than trying.
            ALTER TABLE otel_bridge.series_log
                ALTER COLUMN log_key SET STORAGE EXTERNAL, ALTER COLUMN start_us SET STORAGE EXTERNAL,
                ALTER COLUMN end_us SET STORAGE EXTERNAL, ALTER COLUMN int_total SET STORAGE EXTERNAL,
                ALTER COLUMN double_total SET STORAGE EXTERNAL, ALTER COLUMN count SET STORAGE EXTERNAL,
                ALTER COLUMN sum SET STORAGE EXTERNAL, ALTER COLUMN bucket_counts SET STORAGE EXTERNAL;
            COMMENT ON TABLE otel_bridge.series_log IS
                'Series states committed since series_state was last brought up to date; see series_current.';
            -- Each logged series' latest state, where it is newer than its row (a state only moves forward).
            CREATE VIEW otel_bridge.series_log_latest AS
            SELECT DISTINCT ON (l.pipeline, u.log_key) l.pipeline, l.seq, u.log_key,
                   timestamptz 'epoch' + u.start_us * interval '1 microsecond' AS start_time,
                   timestamptz 'epoch' + u.end_us * interval '1 microsecond' AS last_bucket_end,
                   u.int_total, u.double_total, u.count, u.sum, u.bucket_counts::bigint[] AS bucket_counts
            FROM otel_bridge.series_log l,
                 unnest(l.log_key, l.start_us, l.end_us, l.int_total, l.double_total, l.count, l.sum, l.bucket_counts)
                     AS u(log_key, start_us, end_us, int_total, double_total, count, sum, bucket_counts)
            ORDER BY l.pipeline, u.log_key, l.seq DESC;
            CREATE VIEW otel_bridge.series_current AS
            SELECT s.pipeline, s.metric, s.series_id, s.attributes,
                   CASE WHEN n.log_key IS NULL THEN s.start_time ELSE n.start_time END AS start_time,
                   CASE WHEN n.log_key IS NULL THEN s.last_bucket_end ELSE n.last_bucket_end END AS last_bucket_end,
                   CASE WHEN n.log_key IS NULL THEN s.int_total ELSE n.int_total END AS int_total,
                   CASE WHEN n.log_key IS NULL THEN s.double_total ELSE n.double_total END AS double_total,
                   CASE WHEN n.log_key IS NULL THEN s.count ELSE n.count END AS count,
                   CASE WHEN n.log_key IS NULL THEN s.sum ELSE n.sum END AS sum,
                   CASE WHEN n.log_key IS NULL THEN s.bucket_counts ELSE n.bucket_counts END AS bucket_counts,
                   s.log_key
            FROM otel_bridge.series_state s
            LEFT JOIN otel_bridge.series_log_latest n
                ON n.pipeline = s.pipeline AND n.log_key = s.log_key AND n.last_bucket_end > s.last_bucket_end;
            """#),
    ]
}
