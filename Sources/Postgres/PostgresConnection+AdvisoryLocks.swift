extension PostgresConnection {
    /// Tries to take a session-level advisory lock (`pg_try_advisory_lock(key)`) without waiting.
    ///
    /// The lock is held until ``advisoryUnlock(key:)``, ``close()``, or the session ending for any
    /// other reason (a crash included). Taking a lock this session already holds succeeds again and
    /// needs one more unlock.
    ///
    /// - Returns: `true` if this session now holds the lock, `false` if another session holds it.
    public func tryAdvisoryLock(key: Int64, file: String = #fileID, line: Int = #line) throws(PostgresError) -> Bool {
        try self.query("SELECT pg_try_advisory_lock($1) AS locked", [key], file: file, line: line)
            .single(file: file, line: line).bool("locked", file: file, line: line)
    }

    /// Releases a session-level advisory lock taken with ``tryAdvisoryLock(key:file:line:)``.
    ///
    /// - Returns: `false` if this session did not hold it (the server also logs a warning).
    @discardableResult
    public func advisoryUnlock(key: Int64, file: String = #fileID, line: Int = #line) throws(PostgresError) -> Bool {
        try self.query("SELECT pg_advisory_unlock($1) AS unlocked", [key], file: file, line: line)
            .single(file: file, line: line).bool("unlocked", file: file, line: line)
    }

    /// The advisory lock key for a name: FNV-1a 64-bit over the UTF-8 bytes of
    /// `"otel_bridge:" + name`, read as a signed 64-bit integer. Stable across versions and
    /// platforms.
    ///
    /// In `pg_locks` a bigint advisory key appears split in two, with `objsubid = 1`:
    /// `classid` holds the high 32 bits and `objid` the low 32 bits, so
    /// `(classid::bigint << 32) | objid::bigint` gives the key back. The checkpoint schema ships a
    /// SQL function that computes the same value: `otel_bridge.lock_key(name)`.
    public static func lockKey(for name: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "otel_bridge:\(name)".utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }
}
