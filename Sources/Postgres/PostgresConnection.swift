import CLibPQ
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One blocking libpq connection.
///
/// Every call blocks the calling thread until the server answers, so use a connection from a
/// dedicated thread, never from Swift's cooperative pool. A connection is not `Sendable`: one
/// thread at a time. It owns its `PGconn` and frees it exactly once, in ``close()`` or `deinit`.
///
/// On connect the session is set to `TimeZone = UTC`, `DateStyle = ISO, YMD` and
/// `extra_float_digits = 3`, which the text decoders in ``PostgresRow`` rely on.
/// `@unchecked Sendable`: it owns a libpq connection (a C handle), which must not be used by two
/// threads at once. The bridge keeps that by construction: a pass's store is used by its worker
/// (commits) only while the pass's own thread reads without it, and `serve`'s schedules each keep
/// their own connection.
public final class PostgresConnection: @unchecked Sendable {
    /// The libpq handle; `nil` once closed. Only this class touches it.
    private var handle: OpaquePointer?
    /// Receives server notices (`NOTICE: … already exists, skipping`) for the logger. Kept alive
    /// as long as the handle, which holds an unretained pointer to it.
    private let noticeSink: NoticeSink
    /// Removes the connection string's secrets from every message this connection passes on.
    let redactor: PostgresRedactor
    /// The session bounds this connection added (`statement_timeout` → `60000`), for error messages.
    let sessionSettings: [String: String]
    /// When the last statement returned, to tell an idle-in-transaction timeout from another loss.
    private var lastStatementEnded: ContinuousClock.Instant?
    /// A statement sent by ``start(_:_:file:line:)`` and not yet finished, with how long the
    /// transaction had idled when it was sent.
    private var pending: (sql: String, idle: Duration?, prepared: PreparedKey?)?
    /// Statements run more than once in this session, prepared once (parsed and planned once,
    /// where Postgres settles on a generic plan): their names by SQL and parameter types.
    private var prepared: [PreparedKey: String] = [:]
    /// Statements run once so far (a statement is prepared at its second run: one that runs once
    /// costs no extra round trip).
    private var ranOnce: Set<PreparedKey> = []
    /// A session holds at most this many prepared statements; others run unnamed.
    static let preparedLimit = 64
    /// Statements prepared in this session (their names are numbered by it).
    private var preparedCount = 0
    /// `feature_not_supported`: what a prepared statement fails with once its result's columns changed.
    static let cachedPlanChanged = "0A000"
    /// The logger for connection events and server notices.
    public let logger: Logger

    private init(handle: OpaquePointer, noticeSink: NoticeSink, plan: PostgresConnectionPlan, logger: Logger) {
        self.handle = handle
        self.noticeSink = noticeSink
        self.redactor = plan.redactor
        self.sessionSettings = plan.sessionSettings
        self.logger = logger
    }

    deinit {
        if let handle = self.handle {
            PQfinish(handle)
        }
    }

    /// Connects and prepares the session.
    ///
    /// Every wait is bounded unless the connection string says otherwise (see ``PostgresTimeouts``):
    /// `connect_timeout`, TCP keepalives and `tcp_user_timeout`, and the session's
    /// `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout` (sent in
    /// libpq's `options`, appended to the string's `options` or `PGOPTIONS`; a `-c` setting of the
    /// same name there wins).
    ///
    /// TLS: when neither the string nor `PGSSLMODE` sets `sslmode`, it is `verify-full` (encrypted,
    /// and the server's certificate must be valid for the host name; CA from `sslrootcert`, default
    /// `~/.postgresql/root.crt`) unless every host is local (a Unix socket, `localhost`,
    /// 127.0.0.0/8, `::1`), where it is `prefer`. An unencrypted connection is logged once, at
    /// `warning` for a remote host, `notice` for loopback TCP and `debug` for a Unix socket.
    ///
    /// - Parameters:
    ///   - conninfo: a libpq URI (`postgresql://user:password@host:5432/db?sslmode=require`) or a
    ///     key/value string (`host=db user=bridge dbname=analytics`). `nil` or empty: libpq's
    ///     defaults, which come from the standard `PG*` environment variables (`PGHOST`, `PGPORT`,
    ///     `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, …) and `~/.pgpass`. Anything the
    ///     string leaves out also falls back to those.
    ///   - applicationName: shown in `pg_stat_activity.application_name`. Sent as libpq's
    ///     `fallback_application_name`, so an `application_name` in `conninfo` or `PGAPPNAME` wins.
    ///   - connectTimeout: how long to wait for the server, rounded up to whole seconds (libpq's
    ///     minimum is 2 s). A `connect_timeout` in `conninfo` or `PGCONNECT_TIMEOUT` wins.
    ///   - timeouts: the other bounds; see ``PostgresTimeouts`` for the defaults.
    ///   - logger: for connection events and server notices.
    /// - Throws: ``PostgresError/Code/connectionFailed``, whose description contains libpq's
    ///   message (host, port, user, database) but never a password nor the userinfo of a URI.
    public static func connect(
        conninfo: String?,
        applicationName: String = "otel-bridge",
        connectTimeout: Duration = .seconds(10),
        timeouts: PostgresTimeouts = PostgresTimeouts(),
        logger: Logger = Logger(label: "otel-bridge.postgres"),
        file: String = #fileID,
        line: Int = #line
    ) throws(PostgresError) -> PostgresConnection {
        var plan: PostgresConnectionPlan
        do {
            plan = try PostgresConnectionPlan.resolve(
                conninfo: conninfo,
                environment: Self.libpqEnvironment(),
                applicationName: applicationName,
                connectTimeout: connectTimeout,
                timeouts: timeouts
            )
        } catch {
            throw PostgresError(code: error.code, message: error.message, file: file, line: line)
        }
        return try Self.connect(plan: plan, logger: logger, file: file, line: line)
    }

    /// The environment variables the connection plan reads, as libpq will see them.
    static func libpqEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for name in [
            "PGHOST", "PGHOSTADDR", "PGPASSWORD", "PGSSLMODE", "PGREQUIRESSL", "PGCONNECT_TIMEOUT", "PGOPTIONS",
        ] {
            if let value = getenv(name) {
                environment[name] = String(cString: value)
            }
        }
        return environment
    }

    private static func connect(
        plan: PostgresConnectionPlan,
        logger: Logger,
        file: String,
        line: Int
    ) throws(PostgresError) -> PostgresConnection {
        let handle: OpaquePointer? = withCStringArray(plan.parameters.map(\.keyword)) { keywords in
            withCStringArray(plan.parameters.map(\.value)) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let handle else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection", file: file, line: line)
        }
        guard otel_pq_connection_ok(handle) != 0 else {
            let message = plan.redactor.clean(Self.errorMessage(handle) ?? "connection failed")
            PQfinish(handle)
            var hint: String?
            let aboutTLS = message.lowercased().contains("ssl") || message.lowercased().contains("certificate")
            if case .defaulted("verify-full") = plan.sslMode, aboutTLS {
                hint = "sslmode=verify-full was chosen because a host is not local and neither the connection string nor PGSSLMODE sets sslmode: "
                    + "give the server's CA in sslrootcert (default ~/.postgresql/root.crt), or set sslmode explicitly"
            }
            throw PostgresError(code: .connectionFailed, message: message, hint: hint, file: file, line: line)
        }

        let sink = NoticeSink(logger: logger, redactor: plan.redactor)
        PQsetNoticeProcessor(handle, { context, message in
            guard let context, let message else { return }
            let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
            sink.receive(String(cString: message))
        }, Unmanaged.passUnretained(sink).toOpaque())
        let connection = PostgresConnection(handle: handle, noticeSink: sink, plan: plan, logger: logger)
        try connection.executeScript(
            "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3",
            file: file, line: line
        )
        let host = plan.redactor.clean(connection.string(PQhost(handle)) ?? "")
        let metadata: Logger.Metadata = [
            "host": "\(host)",
            "port": "\(plan.redactor.clean(connection.string(PQport(handle)) ?? ""))",
            "database": "\(plan.redactor.clean(connection.string(PQdb(handle)) ?? ""))",
            "user": "\(plan.redactor.clean(connection.string(PQuser(handle)) ?? ""))",
        ]
        if PQsslInUse(handle) == 0 {
            // Once per connection: a Unix socket never leaves the machine (debug), loopback TCP
            // may be a proxy sidecar (notice), anything else crosses a network (warning).
            let level: Logger.Level =
                host.isEmpty || host.hasPrefix("/") || host.hasPrefix("@") ? .debug
                : PostgresConnectionPlan.isLocal(host) ? .notice : .warning
            logger.log(
                level: level,
                "the connection to Postgres is not encrypted (no TLS); set sslmode=verify-full to require it",
                metadata: metadata.merging(["sslmode": "\(connection.option("sslmode") ?? "")"]) { $1 }
            )
        }
        logger.debug("connected to Postgres", metadata: metadata.merging([
            "server_version": "\(PQserverVersion(handle))",
            "tls": "\(PQsslInUse(handle) != 0)",
        ]) { $1 })
        return connection
    }

    /// Closes the connection. Idempotent; using the connection afterwards throws
    /// ``PostgresError/Code/connectionClosed``. Session-level advisory locks are released.
    public func close() {
        guard let handle = self.handle else { return }
        self.handle = nil
        PQfinish(handle)
    }

    /// Whether the connection is open and libpq considers it healthy. A lost connection shows only
    /// after a statement failed; ``ping()`` checks with the server.
    public var isConnected: Bool {
        guard let handle = self.handle else { return false }
        return otel_pq_connection_ok(handle) != 0
    }

    /// Whether a transaction block is open (`BEGIN` without `COMMIT`/`ROLLBACK` yet).
    public var isInTransaction: Bool {
        guard let handle = self.handle else { return false }
        return otel_pq_transaction_idle(handle) == 0
    }

    /// The server process id of this session (`pg_stat_activity.pid`), or `nil` if closed.
    public var backendPID: Int32? {
        guard let handle = self.handle else { return nil }
        return PQbackendPID(handle)
    }

    /// The value libpq uses for a connection keyword (`sslmode`, `keepalives_idle`, `options`, …),
    /// or `nil` if unset or closed. Never the password.
    func option(_ keyword: String) -> String? {
        guard keyword != "password", keyword != "sslpassword", let handle = self.handle,
              let options = PQconninfo(handle)
        else { return nil }
        defer { PQconninfoFree(options) }
        var option = options
        while let name = option.pointee.keyword {
            if String(cString: name) == keyword {
                return option.pointee.val.map { String(cString: $0) }
            }
            option += 1
        }
        return nil
    }

    /// Whether the connection is encrypted with TLS.
    public var isEncrypted: Bool {
        guard let handle = self.handle else { return false }
        return PQsslInUse(handle) != 0
    }

    /// Runs `SELECT 1`: a cheap check that the server still answers.
    public func ping(file: String = #fileID, line: Int = #line) throws(PostgresError) {
        let rows = try self.query("SELECT 1 AS ok", file: file, line: line)
        guard try rows.single(file: file, line: line).int64("ok") == 1 else {
            throw PostgresError(code: .unexpectedResult, message: "SELECT 1 did not return 1", query: "SELECT 1 AS ok", file: file, line: line)
        }
    }

    /// Runs one statement with parameters `$1`, `$2`, … and returns its rows.
    ///
    /// Parameters are sent separately from the SQL text (`PQexecParams`, text format), never
    /// spliced into it. `nil` is SQL `NULL`.
    @discardableResult
    public func query(
        _ sql: String,
        _ parameters: [(any PostgresBindable)?] = [],
        file: String = #fileID,
        line: Int = #line
    ) throws(PostgresError) -> PostgresRows {
        try self.run(sql, parameters, file: file, line: line)
    }

    /// Runs one statement with parameters and returns the number of rows it affected.
    @discardableResult
    public func execute(
        _ sql: String,
        _ parameters: [(any PostgresBindable)?] = [],
        file: String = #fileID,
        line: Int = #line
    ) throws(PostgresError) -> Int {
        try self.run(sql, parameters, file: file, line: line).affectedRows
    }

    /// Runs SQL text that may hold several statements, without parameters (the simple query
    /// protocol). Meant for fixed SQL such as migrations; never build `sql` from values.
    public func executeScript(_ sql: String, file: String = #fileID, line: Int = #line) throws(PostgresError) {
        try self.queryScript(sql, file: file, line: line)
    }

    /// Runs SQL text that may hold several statements, as ``executeScript(_:file:line:)`` does,
    /// and returns the rows of the last: several statements in one round trip (`BEGIN` and a
    /// first query, say). Never build `sql` from values a caller did not compute.
    @discardableResult
    public func queryScript(_ sql: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> PostgresRows {
        let handle = try self.openHandle(query: sql, file: file, line: line)
        let idle = self.idleInTransaction()
        let result = PQexec(handle, sql)
        self.lastStatementEnded = .now
        defer { PQclear(result) }
        try self.check(result, query: sql, idleInTransaction: idle, file: file, line: line)
        guard let result else {
            throw PostgresError(code: .unexpectedResult, message: "no result from libpq", query: sql, file: file, line: line)
        }
        return self.copyRows(result, query: sql)
    }

    // MARK: - Internals

    private func run(
        _ sql: String,
        _ parameters: [(any PostgresBindable)?],
        file: String,
        line: Int
    ) throws(PostgresError) -> PostgresRows {
        try self.start(sql, parameters, file: file, line: line)
        return try self.finish(file: file, line: line)
    }

    /// Sends one statement with parameters and returns without waiting for it: the server runs it
    /// while the caller does something else (a checkpoint commit writes series state while the
    /// batch's request is in flight). ``finish(file:line:)`` waits for its result; until then the
    /// connection takes no other statement.
    public func start(
        _ sql: String,
        _ parameters: [(any PostgresBindable)?] = [],
        file: String = #fileID,
        line: Int = #line
    ) throws(PostgresError) {
        let handle = try self.openHandle(query: sql, file: file, line: line)
        // The protocol counts parameters in 16 bits.
        guard parameters.count <= Int(UInt16.max) else {
            throw PostgresError(
                code: .invalidParameter, message: "\(parameters.count) parameters; Postgres takes at most \(UInt16.max)",
                query: sql, file: file, line: line
            )
        }
        var values: [[UInt8]?] = []
        var types: [Oid] = []
        var formats: [Int32] = []
        values.reserveCapacity(parameters.count)
        types.reserveCapacity(parameters.count)
        formats.reserveCapacity(parameters.count)
        for (index, parameter) in parameters.enumerated() {
            types.append(parameter?.postgresType.rawValue ?? 0)
            if let binary = parameter?.postgresBinary {
                values.append(binary)
                formats.append(1)
                continue
            }
            let text = parameter?.postgresText
            if let text {
                // Before anything is sent: a NUL would be cut off by libpq or refused by the server.
                do {
                    try PostgresText.validate(text, parameter: "parameter $\(index + 1)", file: file, line: line)
                } catch {
                    var error = error
                    error.query = sql
                    throw error
                }
            }
            values.append(text.map { Array($0.utf8) })
            formats.append(0)
        }
        let idle = self.idleInTransaction()
        let key = PreparedKey(sql: sql, types: types)
        let name = try self.preparedName(key, handle: handle, idle: idle, file: file, line: line)
        let sent = withParameterArrays(values) { pointers, lengths in
            types.withUnsafeBufferPointer { types in
                formats.withUnsafeBufferPointer { formats in
                    if let name {
                        PQsendQueryPrepared(handle, name, Int32(truncatingIfNeeded: values.count), pointers, lengths, formats.baseAddress, 0)
                    } else {
                        PQsendQueryParams(handle, sql, Int32(truncatingIfNeeded: values.count), types.baseAddress, pointers, lengths,
                                          formats.baseAddress, 0)
                    }
                }
            }
        }
        guard sent == 1 else {
            self.lastStatementEnded = .now
            try self.check(nil, query: sql, idleInTransaction: idle, file: file, line: line)
            return
        }
        self.pending = (sql, idle, name == nil ? nil : key)
    }

    private struct PreparedKey: Hashable {
        let sql: String
        let types: [Oid]
    }

    /// The name of the session's prepared statement for `sql` with parameters of `types`,
    /// preparing it at its second run; `nil`: run it unnamed (its first run, or the session holds
    /// ``preparedLimit`` already). A named statement outlives a rolled-back transaction and a failed
    /// run; one whose preparation failed is not kept, and the failure is the statement's.
    private func preparedName(_ key: PreparedKey, handle: OpaquePointer, idle: Duration?,
                              file: String, line: Int) throws(PostgresError) -> String? {
        if let name = self.prepared[key] { return name }
        guard self.prepared.count < Self.preparedLimit else { return nil }
        if self.ranOnce.insert(key).inserted {
            if self.ranOnce.count > 4 * Self.preparedLimit { self.ranOnce = [key] }
            return nil
        }
        self.preparedCount += 1
        let name = "otel_bridge_\(self.preparedCount)"
        let result = key.types.withUnsafeBufferPointer { types in
            PQprepare(handle, name, key.sql, Int32(truncatingIfNeeded: types.count), types.baseAddress)
        }
        self.lastStatementEnded = .now
        defer { PQclear(result) }
        try self.check(result, query: key.sql, idleInTransaction: idle, file: file, line: line)
        self.prepared[key] = name
        self.ranOnce.remove(key)
        return name
    }

    /// Waits for the statement ``start(_:_:file:line:)`` sent and returns its rows, or throws its error.
    public func finish(file: String = #fileID, line: Int = #line) throws(PostgresError) -> PostgresRows {
        guard let (sql, idle, preparedKey) = self.pending else {
            throw PostgresError(code: .unexpectedResult, message: "finish() without a statement sent by start()", file: file, line: line)
        }
        self.pending = nil
        let handle = try self.openHandle(query: sql, file: file, line: line)
        // As PQexec does: the last result, stopping early only for COPY or a dead connection.
        var result: OpaquePointer? = nil
        while let next = PQgetResult(handle) {
            PQclear(result)
            result = next
            let status = PQresultStatus(next)
            if status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH || !self.isConnected { break }
        }
        self.lastStatementEnded = .now
        defer { PQclear(result) }
        do {
            try self.check(result, query: sql, idleInTransaction: idle, file: file, line: line)
        } catch {
            // A prepared statement outlives a failed run (a timeout, a conflict) and is run by name
            // again; only one whose plan no longer fits the schema (`cached plan must not change
            // result type`, 0A000, after another bridge migrated it) is prepared anew, under a new
            // name (the old one stays with the session: once per migration).
            if let preparedKey, error.sqlState == Self.cachedPlanChanged { self.prepared[preparedKey] = nil }
            throw error
        }
        guard let result else {
            throw PostgresError(code: .unexpectedResult, message: "no result from libpq", query: sql, file: file, line: line)
        }
        return self.copyRows(result, query: sql)
    }

    private func openHandle(query: String, file: String, line: Int) throws(PostgresError) -> OpaquePointer {
        guard let handle = self.handle else {
            throw PostgresError(code: .connectionClosed, message: "the connection is closed", query: query, file: file, line: line)
        }
        if self.pending != nil {
            throw PostgresError(code: .unexpectedResult, message: "a statement sent by start() is still running: finish() it first",
                                query: query, file: file, line: line)
        }
        return handle
    }

    /// Throws the error a result carries, mapping connection-level failures to `connectionLost`
    /// and the server's timeouts to their codes. Every text is redacted and on one line.
    /// How long the session has sat idle inside a transaction block, or `nil` if not in one.
    private func idleInTransaction() -> Duration? {
        guard self.isInTransaction, let ended = self.lastStatementEnded else { return nil }
        return .now - ended
    }

    /// - Parameter idleInTransaction: how long the transaction had been idle when the statement
    ///   was sent: libpq often loses the server's 25P03 error and reports only a closed connection.
    private func check(
        _ result: OpaquePointer?,
        query: String,
        idleInTransaction: Duration? = nil,
        file: String,
        line: Int
    ) throws(PostgresError) {
        if let result, otel_pq_result_ok(result) != 0 {
            return
        }
        let connectionBad = !self.isConnected
        guard let result else {
            throw PostgresError(
                code: connectionBad ? .connectionLost : .queryFailed,
                message: self.redactor.clean(self.handle.flatMap(Self.errorMessage) ?? "no result from libpq"),
                query: query, file: file, line: line
            )
        }
        if PQresultStatus(result) == PGRES_EMPTY_QUERY {
            throw PostgresError(code: .unexpectedResult, message: "empty query", query: query, file: file, line: line)
        }
        let sqlState = self.string(otel_pq_result_sqlstate(result)).map(self.redactor.clean)
        var message = self.redactor.clean(
            self.string(otel_pq_result_message(result))
                ?? self.string(PQresultErrorMessage(result)).map(Self.trimmed).flatMap { $0.isEmpty ? nil : $0 }
                ?? self.handle.flatMap(Self.errorMessage)
                ?? "statement failed with \(self.string(PQresStatus(PQresultStatus(result))) ?? "unknown status")"
        )
        var code: PostgresError.Code =
            connectionBad || PostgresError.isConnectionLevel(sqlState: sqlState) ? .connectionLost : .queryFailed
        switch sqlState {
        case "57014":
            code = .statementTimeout
            message = "statement canceled: it ran longer than statement_timeout\(self.bound("statement_timeout")) "
                + "or an operator canceled it (server: \(message))"
        case "55P03":
            code = .lockTimeout
            message = "gave up waiting for a lock after lock_timeout\(self.bound("lock_timeout")): another session holds a lock "
                + "this statement needs (server: \(message))"
        case "25P03":
            code = .idleInTransactionTimeout
            message = "the server ended the session: a transaction stayed idle longer than idle_in_transaction_session_timeout"
                + "\(self.bound("idle_in_transaction_session_timeout")); reconnect (server: \(message))"
        default:
            break
        }
        // libpq (15) usually reports only "server closed the connection unexpectedly" for a session
        // the server ended for idling in a transaction: infer it from how long it idled.
        if code == .connectionLost, let idle = idleInTransaction,
           let bound = self.sessionSettings["idle_in_transaction_session_timeout"].flatMap({ Int64($0) }), bound > 0,
           idle >= .milliseconds(bound) {
            code = .idleInTransactionTimeout
            message = "the connection was lost after the transaction stayed idle \(PostgresConnectionPlan.milliseconds(idle)) ms, "
                + "longer than idle_in_transaction_session_timeout (\(bound) ms): the server ends such sessions; reconnect (libpq: \(message))"
        }
        if code == .connectionLost || code == .idleInTransactionTimeout {
            self.logger.warning("Postgres connection lost", metadata: ["error": "\(message)"])
        }
        throw PostgresError(
            code: code,
            message: message,
            sqlState: sqlState,
            detail: self.string(otel_pq_result_detail(result)).map(self.redactor.clean),
            hint: self.string(otel_pq_result_hint(result)).map(self.redactor.clean),
            query: query,
            file: file,
            line: line
        )
    }

    /// ` (60000 ms)` when this connection set the bound, else ` (set by the connection string or server)`.
    private func bound(_ name: String) -> String {
        self.sessionSettings[name].map { " (\($0) ms)" } ?? " (as set by the connection string or the server)"
    }

    private func copyRows(_ result: OpaquePointer, query: String) -> PostgresRows {
        // libpq's counts are non-negative Int32s; clamp anyway rather than trap on a broken result.
        let rowCount = Int(max(0, PQntuples(result)))
        let columnCount = Int(max(0, PQnfields(result)))
        var columns: [String] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(self.string(PQfname(result, Int32(truncatingIfNeeded: column))) ?? "?column?")
        }
        var values: [String?] = []
        values.reserveCapacity(rowCount.multipliedReportingOverflow(by: columnCount).partialValue)
        for row in 0..<rowCount {
            for column in 0..<columnCount {
                let (row32, column32) = (Int32(truncatingIfNeeded: row), Int32(truncatingIfNeeded: column))
                if PQgetisnull(result, row32, column32) != 0 {
                    values.append(nil)
                } else {
                    values.append(self.string(PQgetvalue(result, row32, column32)) ?? "")
                }
            }
        }
        let affected = self.string(PQcmdTuples(result)).flatMap { Int($0) } ?? 0
        return PostgresRows(columns: columns, values: values, affectedRows: affected, query: query)
    }

    private func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private static func errorMessage(_ handle: OpaquePointer) -> String? {
        guard let pointer = PQerrorMessage(handle) else { return nil }
        let message = Self.trimmed(String(cString: pointer))
        return message.isEmpty ? nil : message
    }

    private static func trimmed(_ text: String) -> String {
        String(text.trimmingPrefix(while: \.isWhitespace).reversed().trimmingPrefix(while: \.isWhitespace).reversed())
    }
}

/// Forwards server notices to the logger at debug level instead of libpq's default (stderr).
private final class NoticeSink {
    let logger: Logger
    let redactor: PostgresRedactor

    init(logger: Logger, redactor: PostgresRedactor) {
        self.logger = logger
        self.redactor = redactor
    }

    func receive(_ message: String) {
        let trimmed = String(message.trimmingPrefix(while: \.isWhitespace))
        self.logger.debug("Postgres notice", metadata: ["notice": "\(self.redactor.clean(trimmed))"])
    }
}

/// Calls `body` with a C array of C strings (`nil` entries stay `NULL`) that lives only as long as
/// the call.
private func withCStringArray<Result>(
    _ strings: [String?],
    _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> Result
) -> Result {
    let duplicates: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
    defer { duplicates.forEach { free($0) } }
    let pointers = duplicates.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { buffer in
        // Never empty (the terminating NULL), so the base address exists.
        guard let base = buffer.baseAddress else { preconditionFailure("empty C string array") }
        return body(base)
    }
}

/// Runs `body` with C copies of statement parameters: their addresses (`nil` for SQL `NULL`) and
/// byte counts, as `PQexecParams` takes them.
private func withParameterArrays<Result>(
    _ values: [[UInt8]?],
    _ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<Int32>) -> Result
) -> Result {
    // Each value NUL-terminated as well as counted: libpq reads a text parameter up to its NUL and
    // a binary one by its length.
    let copies: [UnsafeMutablePointer<CChar>?] = values.map { value in
        value.map { bytes in
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            bytes.withUnsafeBytes { raw in
                copy.withMemoryRebound(to: UInt8.self, capacity: bytes.count + 1) { out in
                    if let base = raw.baseAddress { out.update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count) }
                    out[bytes.count] = 0
                }
            }
            return copy
        }
    }
    defer { copies.forEach { $0?.deallocate() } }
    let pointers = copies.map { UnsafePointer($0) } + [nil]
    let lengths = values.map { Int32(truncatingIfNeeded: $0?.count ?? 0) } + [0]
    return pointers.withUnsafeBufferPointer { buffer in
        lengths.withUnsafeBufferPointer { lengthBuffer in
            // Never empty (the terminating entries), so the base addresses exist.
            guard let base = buffer.baseAddress, let lengthBase = lengthBuffer.baseAddress else {
                preconditionFailure("empty parameter array")
            }
            return body(base, lengthBase)
        }
    }
}
