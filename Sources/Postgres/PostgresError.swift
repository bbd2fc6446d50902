/// An error from the Postgres layer: a failed connect, a failed statement, a lost connection, or a
/// value that does not decode as asked.
///
/// `description` is safe to log: it never contains a password, a connection string or a parameter
/// value. It carries the code, the SQLSTATE, the server's message, detail and hint, and the SQL text.
/// `debugDescription` adds where the operation was started (`#fileID:#line`).
public struct PostgresError: Error, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {

    /// What kind of failure this is. Compare with the static values: `error.code == .connectionLost`.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case connectionFailed
            case connectionLost
            case connectionClosed
            case queryFailed
            case unexpectedResult
            case invalidParameter
            case missingColumn
            case invalidValue
            case nestedTransaction
            case statementTimeout
            case lockTimeout
            case idleInTransactionTimeout
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// Connecting failed: bad connection string, unreachable server, authentication, unknown database.
        public static let connectionFailed = Self(.connectionFailed)
        /// The server went away during a statement: the connection is unusable (`PQstatus` is
        /// `CONNECTION_BAD`, SQLSTATE class `08`, or `57P01`/`57P02` shutdown). Reconnect to retry.
        public static let connectionLost = Self(.connectionLost)
        /// The connection was used after ``PostgresConnection/close()``.
        public static let connectionClosed = Self(.connectionClosed)
        /// The server rejected a statement; see ``PostgresError/sqlState`` and ``PostgresError/message``.
        public static let queryFailed = Self(.queryFailed)
        /// The server answered with something the caller did not expect (no rows, an empty query, …).
        public static let unexpectedResult = Self(.unexpectedResult)
        /// A parameter could not be sent (a string with a NUL character).
        public static let invalidParameter = Self(.invalidParameter)
        /// A row has no column of the requested name.
        public static let missingColumn = Self(.missingColumn)
        /// A column's value is NULL where a value is required, or does not parse as the requested type.
        public static let invalidValue = Self(.invalidValue)
        /// ``PostgresConnection/transaction(_:)`` was called inside a transaction.
        public static let nestedTransaction = Self(.nestedTransaction)
        /// The server canceled a statement (SQLSTATE `57014`): it ran longer than
        /// `statement_timeout`, or an operator canceled it (`pg_cancel_backend`). The connection
        /// stays usable; an open transaction is aborted.
        public static let statementTimeout = Self(.statementTimeout)
        /// A lock could not be had within `lock_timeout` (SQLSTATE `55P03`): another session holds
        /// a row, table or advisory lock this statement needs. The connection stays usable; an open
        /// transaction is aborted.
        public static let lockTimeout = Self(.lockTimeout)
        /// The server ended the session because a transaction stayed idle longer than
        /// `idle_in_transaction_session_timeout` (SQLSTATE `25P03`). The connection is unusable,
        /// as with ``connectionLost``: reconnect to retry.
        public static let idleInTransactionTimeout = Self(.idleInTransactionTimeout)

        public var description: String {
            switch self.base {
            case .connectionFailed: "connectionFailed"
            case .connectionLost: "connectionLost"
            case .connectionClosed: "connectionClosed"
            case .queryFailed: "queryFailed"
            case .unexpectedResult: "unexpectedResult"
            case .invalidParameter: "invalidParameter"
            case .missingColumn: "missingColumn"
            case .invalidValue: "invalidValue"
            case .nestedTransaction: "nestedTransaction"
            case .statementTimeout: "statementTimeout"
            case .lockTimeout: "lockTimeout"
            case .idleInTransactionTimeout: "idleInTransactionTimeout"
            }
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// The five-character SQLSTATE the server reported (`42P01` undefined table, `23505` unique
    /// violation, …), if the failure came from the server.
    public var sqlState: String?
    /// The server's primary message, or libpq's message for client-side failures (never contains a
    /// password), or this layer's own explanation.
    public var message: String
    /// The server's DETAIL, if any.
    public var detail: String?
    /// The server's HINT, if any.
    public var hint: String?
    /// The SQL text of the failed statement (never parameter values).
    public var query: String?
    /// The column involved in a decoding failure.
    public var column: String?
    /// The file (`#fileID`) that started the failed operation.
    public var file: String
    /// The line that started the failed operation.
    public var line: Int

    /// Creates an error. Used by this module; public so that tests and fakes can build one.
    public init(
        code: Code,
        message: String,
        sqlState: String? = nil,
        detail: String? = nil,
        hint: String? = nil,
        query: String? = nil,
        column: String? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.query = query
        self.column = column
        self.file = file
        self.line = line
    }

    public var description: String {
        var text = "Postgres error \(self.code)"
        if let sqlState = self.sqlState {
            text += " (SQLSTATE \(sqlState))"
        }
        text += ": \(self.message)"
        if let column = self.column {
            text += " [column \(column)]"
        }
        if let detail = self.detail {
            text += "; detail: \(detail)"
        }
        if let hint = self.hint {
            text += "; hint: \(hint)"
        }
        if let query = self.query {
            text += "; query: \(Self.abbreviated(query))"
        }
        return text
    }

    public var debugDescription: String {
        var text = self.description
        if let query = self.query, query.count > Self.queryLimit {
            text += "; full query: \(query)"
        }
        text += " (at \(self.file):\(self.line))"
        return text
    }

    private static let queryLimit = 200

    private static func abbreviated(_ query: String) -> String {
        let oneLine = query.split(whereSeparator: \.isNewline)
            .map { $0.trimmingPrefix(while: \.isWhitespace) }
            .joined(separator: " ")
        guard oneLine.count > Self.queryLimit else { return oneLine }
        return String(oneLine.prefix(Self.queryLimit)) + "…"
    }
}

extension PostgresError {
    /// Whether the connection that threw this cannot be used any more (``Code/connectionLost``,
    /// ``Code/idleInTransactionTimeout``, ``Code/connectionClosed``): reconnect to retry.
    public var connectionIsUnusable: Bool {
        self.code == .connectionLost || self.code == .idleInTransactionTimeout || self.code == .connectionClosed
    }

    /// Whether this SQLSTATE or code means the connection cannot be used any more.
    static func isConnectionLevel(sqlState: String?) -> Bool {
        guard let sqlState else { return false }
        // Class 08: connection exception. 57P01 admin_shutdown, 57P02 crash_shutdown,
        // 57P05 idle_session_timeout.
        return sqlState.hasPrefix("08") || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P05"
    }
}
