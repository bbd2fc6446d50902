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
public final class PostgresConnection {
    /// The libpq handle; `nil` once closed. Only this class touches it.
    private var handle: OpaquePointer?
    /// Receives server notices (`NOTICE: … already exists, skipping`) for the logger. Kept alive
    /// as long as the handle, which holds an unretained pointer to it.
    private let noticeSink: NoticeSink
    /// The logger for connection events and server notices.
    public let logger: Logger

    private init(handle: OpaquePointer, noticeSink: NoticeSink, logger: Logger) {
        self.handle = handle
        self.noticeSink = noticeSink
        self.logger = logger
    }

    deinit {
        if let handle = self.handle {
            PQfinish(handle)
        }
    }

    /// Connects and prepares the session.
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
    ///     minimum is 2 s). A `connect_timeout` in `conninfo` wins.
    ///   - logger: for connection events and server notices.
    /// - Throws: ``PostgresError/Code/connectionFailed``, whose description contains libpq's
    ///   message (host, port, user, database) but never the password.
    public static func connect(
        conninfo: String?,
        applicationName: String = "otel-bridge",
        connectTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "otel-bridge.postgres"),
        file: String = #fileID,
        line: Int = #line
    ) throws(PostgresError) -> PostgresConnection {
        let timeoutSeconds = max(1, Int((connectTimeout + .nanoseconds(999_999_999)).components.seconds))
        // Later keywords override earlier ones, and the expanded dbname overrides what came before
        // it: our defaults first, then the caller's conninfo, then what the session needs.
        var parameters: [(String, String)] = [
            ("fallback_application_name", applicationName),
            ("connect_timeout", String(timeoutSeconds)),
        ]
        var password: String?
        if let conninfo, !conninfo.isEmpty {
            do {
                password = try Self.password(inConninfo: conninfo)
            } catch {
                throw PostgresError(code: .connectionFailed, message: error.message, file: file, line: line)
            }
            parameters.append(("dbname", conninfo))
        }
        // The decoders expect UTF-8 whatever PGCLIENTENCODING says.
        parameters.append(("client_encoding", "UTF8"))
        return try Self.connect(parameters: parameters, password: password, logger: logger, file: file, line: line)
    }

    private static func connect(
        parameters: [(String, String)],
        password: String?,
        logger: Logger,
        file: String,
        line: Int
    ) throws(PostgresError) -> PostgresConnection {
        let handle: OpaquePointer? = withCStringArray(parameters.map(\.0)) { keywords in
            withCStringArray(parameters.map(\.1)) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let handle else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection", file: file, line: line)
        }
        guard otel_pq_connection_ok(handle) != 0 else {
            var message = Self.errorMessage(handle) ?? "connection failed"
            PQfinish(handle)
            // libpq does not echo passwords; scrub anyway in case a future version does.
            if let password, password.count >= 3 {
                message = message.replacing(password, with: "***")
            }
            throw PostgresError(code: .connectionFailed, message: message, file: file, line: line)
        }

        let sink = NoticeSink(logger: logger)
        PQsetNoticeProcessor(handle, { context, message in
            guard let context, let message else { return }
            let sink = Unmanaged<NoticeSink>.fromOpaque(context).takeUnretainedValue()
            sink.receive(String(cString: message))
        }, Unmanaged.passUnretained(sink).toOpaque())
        let connection = PostgresConnection(handle: handle, noticeSink: sink, logger: logger)
        try connection.executeScript(
            "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3",
            file: file, line: line
        )
        logger.debug("connected to Postgres", metadata: [
            "host": "\(connection.string(PQhost(handle)) ?? "")",
            "port": "\(connection.string(PQport(handle)) ?? "")",
            "database": "\(connection.string(PQdb(handle)) ?? "")",
            "user": "\(connection.string(PQuser(handle)) ?? "")",
            "server_version": "\(PQserverVersion(handle))",
        ])
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
        let handle = try self.openHandle(query: sql, file: file, line: line)
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        try self.check(result, query: sql, file: file, line: line)
    }

    // MARK: - Internals

    private func run(
        _ sql: String,
        _ parameters: [(any PostgresBindable)?],
        file: String,
        line: Int
    ) throws(PostgresError) -> PostgresRows {
        let handle = try self.openHandle(query: sql, file: file, line: line)
        // The protocol counts parameters in 16 bits.
        guard parameters.count <= Int(UInt16.max) else {
            throw PostgresError(
                code: .invalidParameter, message: "\(parameters.count) parameters; Postgres takes at most \(UInt16.max)",
                query: sql, file: file, line: line
            )
        }
        var texts: [String?] = []
        var types: [Oid] = []
        texts.reserveCapacity(parameters.count)
        types.reserveCapacity(parameters.count)
        for (index, parameter) in parameters.enumerated() {
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
            texts.append(text)
            types.append(parameter?.postgresType.rawValue ?? 0)
        }
        let result: OpaquePointer? = withCStringArray(texts) { values in
            types.withUnsafeBufferPointer { types in
                PQexecParams(handle, sql, Int32(truncatingIfNeeded: texts.count), types.baseAddress, values, nil, nil, 0)
            }
        }
        defer { PQclear(result) }
        try self.check(result, query: sql, file: file, line: line)
        guard let result else {
            throw PostgresError(code: .unexpectedResult, message: "no result from libpq", query: sql, file: file, line: line)
        }
        return self.copyRows(result, query: sql)
    }

    private func openHandle(query: String, file: String, line: Int) throws(PostgresError) -> OpaquePointer {
        guard let handle = self.handle else {
            throw PostgresError(code: .connectionClosed, message: "the connection is closed", query: query, file: file, line: line)
        }
        return handle
    }

    /// Throws the error a result carries, mapping connection-level failures to `connectionLost`.
    private func check(_ result: OpaquePointer?, query: String, file: String, line: Int) throws(PostgresError) {
        if let result, otel_pq_result_ok(result) != 0 {
            return
        }
        let connectionBad = !self.isConnected
        guard let result else {
            throw PostgresError(
                code: connectionBad ? .connectionLost : .queryFailed,
                message: self.handle.flatMap(Self.errorMessage) ?? "no result from libpq",
                query: query, file: file, line: line
            )
        }
        if PQresultStatus(result) == PGRES_EMPTY_QUERY {
            throw PostgresError(code: .unexpectedResult, message: "empty query", query: query, file: file, line: line)
        }
        let sqlState = self.string(otel_pq_result_sqlstate(result))
        let message = self.string(otel_pq_result_message(result))
            ?? self.string(PQresultErrorMessage(result)).map(Self.trimmed).flatMap { $0.isEmpty ? nil : $0 }
            ?? self.handle.flatMap(Self.errorMessage)
            ?? "statement failed with \(self.string(PQresStatus(PQresultStatus(result))) ?? "unknown status")"
        let code: PostgresError.Code =
            connectionBad || PostgresError.isConnectionLevel(sqlState: sqlState) ? .connectionLost : .queryFailed
        if code == .connectionLost {
            self.logger.warning("Postgres connection lost", metadata: ["error": "\(message)"])
        }
        throw PostgresError(
            code: code,
            message: message,
            sqlState: sqlState,
            detail: self.string(otel_pq_result_detail(result)),
            hint: self.string(otel_pq_result_hint(result)),
            query: query,
            file: file,
            line: line
        )
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

    /// The password a conninfo string holds, if any; validates the string on the way.
    private static func password(inConninfo conninfo: String) throws(PostgresError) -> String? {
        var errorPointer: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &errorPointer) else {
            var message = "invalid connection string"
            if let errorPointer {
                // libpq quotes fragments of the string it could not parse, which may be a password.
                message += ": " + Self.redactingQuotedFragments(Self.trimmed(String(cString: errorPointer)))
                PQfreemem(errorPointer)
            }
            throw PostgresError(code: .connectionFailed, message: message)
        }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "password", let value = option.pointee.val {
                return String(cString: value)
            }
            option += 1
        }
        return nil
    }

    private static func redactingQuotedFragments(_ message: String) -> String {
        var output = ""
        var inQuotes = false
        for character in message {
            if character == "\"" {
                output += inQuotes ? "…\"" : "\""
                inQuotes.toggle()
            } else if !inQuotes {
                output.append(character)
            }
        }
        return output
    }
}

/// Forwards server notices to the logger at debug level instead of libpq's default (stderr).
private final class NoticeSink {
    let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func receive(_ message: String) {
        let trimmed = message.trimmingPrefix(while: \.isWhitespace)
        self.logger.debug("Postgres notice", metadata: ["notice": "\(String(trimmed).split(whereSeparator: \.isNewline).joined(separator: " "))"])
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
