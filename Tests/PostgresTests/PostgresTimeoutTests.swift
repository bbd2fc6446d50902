import Checkpoints
import Foundation
import Testing
import TestSupport

@testable import Postgres

/// A row lock held in psql, a stuck migration lock or a forgotten transaction must not hang a pass.
@Suite("Every Postgres wait is bounded")
struct PostgresTimeoutTests {

    @Test func sessionsGetTheDefaultBounds() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let row = try connection.query("""
            SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock,
                   current_setting('idle_in_transaction_session_timeout') AS idle
            """).single()
        #expect(try row.string("statement") == "1min")
        #expect(try row.string("lock") == "10s")
        #expect(try row.string("idle") == "1min")
        #expect(connection.option("connect_timeout") == "10")
        #expect(connection.option("keepalives") == "1")
        #expect(connection.option("keepalives_idle") == "30")
        #expect(connection.option("keepalives_interval") == "10")
        #expect(connection.option("keepalives_count") == "3")
        #expect(connection.option("tcp_user_timeout") == "60000")
        #expect(connection.option("password") == nil)
    }

    @Test func boundsInTheURIWin() throws {
        var components = TestPostgres.components
        components.queryItems = (components.queryItems ?? []) + [
            URLQueryItem(name: "options", value: "-c lock_timeout=1234 -c statement_timeout=0"),
            URLQueryItem(name: "keepalives_idle", value: "7"),
            URLQueryItem(name: "connect_timeout", value: "5"),
        ]
        // URLComponents leaves '=' unencoded in query values; libpq wants it encoded.
        let url = try #require(components.string).replacingOccurrences(of: "lock_timeout=1234", with: "lock_timeout%3D1234")
            .replacingOccurrences(of: "statement_timeout=0", with: "statement_timeout%3D0")
        let connection = try PostgresConnection.connect(conninfo: url)
        defer { connection.close() }
        let row = try connection.query("""
            SELECT current_setting('statement_timeout') AS statement, current_setting('lock_timeout') AS lock,
                   current_setting('idle_in_transaction_session_timeout') AS idle
            """).single()
        #expect(try row.string("lock") == "1234ms")
        #expect(try row.string("statement") == "0")
        #expect(try row.string("idle") == "1min")
        #expect(connection.option("keepalives_idle") == "7")
        #expect(connection.option("connect_timeout") == "5")
    }

    /// A row lock held by another session (psql left in a transaction, say) must not block a
    /// statement for longer than lock_timeout.
    @Test func rowLockHeldElsewhereFailsWithinLockTimeout() throws {
        let table = "lock_probe_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let holder = try TestPostgres.connect()
        defer { holder.close() }
        try holder.execute("CREATE TABLE \(table) (id int PRIMARY KEY, n int)")
        defer { _ = try? holder.execute("DROP TABLE IF EXISTS \(table)") }
        try holder.execute("INSERT INTO \(table) VALUES (1, 0)")
        try holder.execute("BEGIN")
        try holder.execute("SELECT * FROM \(table) WHERE id = 1 FOR UPDATE")
        // Ended after 5 s at the latest, so that without a bound the test fails instead of hanging.
        TestPostgres.terminate(pid: try #require(holder.backendPID), after: 5)

        let waiter = try PostgresConnection.connect(conninfo: TestPostgres.url, timeouts: PostgresTimeouts(lock: .milliseconds(300)))
        defer { waiter.close() }
        let started = ContinuousClock.now
        let error = try #require(throws: PostgresError.self) {
            try waiter.execute("UPDATE \(table) SET n = n + 1 WHERE id = 1")
        }
        let waited = ContinuousClock.now - started
        #expect(error.code == .lockTimeout)
        #expect(error.sqlState == "55P03")
        #expect(error.message.contains("lock_timeout (300 ms)"))
        #expect(error.description.contains("lockTimeout"))
        #expect(waited < .seconds(3))
        // The connection stays usable.
        try waiter.ping()
        try holder.execute("ROLLBACK")
    }

    @Test func longStatementFailsWithinStatementTimeout() throws {
        let connection = try PostgresConnection.connect(
            conninfo: TestPostgres.url, timeouts: PostgresTimeouts(statement: .milliseconds(300))
        )
        defer { connection.close() }
        let started = ContinuousClock.now
        let error = try #require(throws: PostgresError.self) { try connection.execute("SELECT pg_sleep(5)") }
        #expect(ContinuousClock.now - started < .seconds(3))
        #expect(error.code == .statementTimeout)
        #expect(error.sqlState == "57014")
        #expect(error.message.contains("statement_timeout (300 ms)"))
        #expect(!error.connectionIsUnusable)
        try connection.ping()
    }

    @Test func idleTransactionEndsTheSessionWithAClearError() throws {
        let connection = try PostgresConnection.connect(
            conninfo: TestPostgres.url, timeouts: PostgresTimeouts(idleInTransaction: .milliseconds(200))
        )
        defer { connection.close() }
        try connection.execute("BEGIN")
        Thread.sleep(forTimeInterval: 1)
        let error = try #require(throws: PostgresError.self) { try connection.ping() }
        // libpq 15 loses the server's 25P03 and reports a closed connection; the code says why.
        #expect(error.code == .idleInTransactionTimeout)
        #expect(error.connectionIsUnusable)
        #expect(error.message.contains("idle_in_transaction_session_timeout (200 ms)"))
        #expect(!connection.isConnected)
    }

    /// A session holding the migration lock (a stuck bridge, a psql) must not block every later
    /// start: migrate() gives up after lock_timeout and says why.
    @Test func migrateGivesUpOnAHeldMigrationLock() throws {
        try TestPostgres.withDatabase { url in
            let holder = try PostgresConnection.connect(conninfo: url)
            defer { holder.close() }
            try holder.query("SELECT pg_advisory_lock($1)", [CheckpointStore.migrationLockKey])
            // Ended after 5 s, so that without a bound the test fails instead of hanging.
            TestPostgres.terminate(pid: try #require(holder.backendPID), after: 5)

            let connection = try PostgresConnection.connect(conninfo: url, timeouts: PostgresTimeouts(lock: .milliseconds(500)))
            defer { connection.close() }
            let store = CheckpointStore(connection: connection, host: "test-host", pid: 1)
            let started = ContinuousClock.now
            let error = try #require(throws: PostgresError.self) { try store.migrate() }
            #expect(ContinuousClock.now - started < .seconds(4))
            #expect(error.code == .lockTimeout)
            #expect(error.message.contains("another bridge is migrating"))
            #expect(error.message.contains("holds the migration lock"))
            #expect(!connection.isInTransaction)

            try holder.query("SELECT pg_advisory_unlock($1)", [CheckpointStore.migrationLockKey])
            #expect(try store.migrate().map(\.version) == CheckpointStore.migrations.map(\.version))
        }
    }
}
