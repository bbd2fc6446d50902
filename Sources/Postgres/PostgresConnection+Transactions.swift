extension PostgresConnection {
    /// Runs `body` inside `BEGIN` … `COMMIT`, and `ROLLBACK`s if it throws.
    ///
    /// If the rollback fails as well (the connection is gone, say), the error `body` threw is the
    /// one rethrown; the rollback failure is logged. Transactions do not nest: calling this inside
    /// one throws ``PostgresError/Code/nestedTransaction``.
    ///
    /// ```swift
    /// try connection.transaction {
    ///     try connection.execute("UPDATE …", [a])
    ///     try connection.execute("INSERT …", [b])
    /// }
    /// ```
    public func transaction<Result>(
        file: String = #fileID,
        line: Int = #line,
        _ body: () throws -> Result
    ) throws -> Result {
        guard !self.isInTransaction else {
            throw PostgresError(
                code: .nestedTransaction, message: "transaction() called inside an open transaction",
                file: file, line: line
            )
        }
        try self.execute("BEGIN", file: file, line: line)
        return try self.completeTransaction(file: file, line: line, body)
    }

    /// Runs `body` in the transaction already open on this session (begun earlier, with
    /// statements run in it since), then `COMMIT`s; `ROLLBACK`s if it throws, as
    /// ``transaction(file:line:_:)`` does.
    public func completeTransaction<Result>(
        file: String = #fileID,
        line: Int = #line,
        _ body: () throws -> Result
    ) throws -> Result {
        // Outside a block every statement would commit on its own: refuse rather than half-commit.
        guard self.isInTransaction else {
            throw PostgresError(code: .unexpectedResult, message: "completeTransaction() without an open transaction", file: file, line: line)
        }
        let result: Result
        do {
            result = try body()
        } catch {
            self.rollback(reason: "\(error)", file: file, line: line)
            throw error
        }
        try self.execute("COMMIT", file: file, line: line)
        return result
    }

    /// `ROLLBACK`; a failure of the rollback itself is logged with `reason` (why the transaction
    /// is rolled back: the error, or the caller's decision), not thrown.
    public func rollback(reason: String, file: String = #fileID, line: Int = #line) {
        do {
            try self.execute("ROLLBACK", file: file, line: line)
        } catch let rollbackError {
            self.logger.warning("ROLLBACK failed after an error", metadata: [
                "error": "\(reason)", "rollback_error": "\(rollbackError)",
            ])
        }
    }
}
