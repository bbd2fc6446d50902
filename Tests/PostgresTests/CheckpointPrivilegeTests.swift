import Checkpoints
import Foundation
import Testing
import TestSupport

@testable import Postgres

/// Connects as a role that has only the grants docs/checkpoints.md lists.
@Suite("The checkpoint store with least privilege")
struct CheckpointPrivilegeTests {

    /// After the first migration the bridge's role needs no CREATE anywhere: what
    /// docs/checkpoints.md grants is enough for migrate() and the store's work.
    @Test func upToDateMigrateNeedsNoCreatePrivilege() throws {
        let role = "bridge_rw_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let password = "pw-" + UUID().uuidString
        let admin = try TestPostgres.connect()
        defer { admin.close() }
        try admin.execute("CREATE ROLE \(role) LOGIN PASSWORD '\(password)'")
        defer {
            _ = try? admin.execute("DROP ROLE IF EXISTS \(role)")
        }
        try TestPostgres.withDatabase { url in
            let database = String(try #require(URLComponents(string: url)).path.dropFirst())
            let owner = try PostgresConnection.connect(conninfo: url)
            defer { owner.close() }
            try CheckpointStore(connection: owner, host: "owner", pid: 1).migrate()
            // Exactly the grants of docs/checkpoints.md.
            try owner.executeScript("""
                REVOKE CREATE ON DATABASE \(database) FROM PUBLIC;
                REVOKE CREATE ON SCHEMA public FROM PUBLIC;
                GRANT CONNECT ON DATABASE \(database) TO \(role);
                GRANT USAGE ON SCHEMA otel_bridge TO \(role);
                GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA otel_bridge TO \(role);
                GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA otel_bridge TO \(role);
                """)
            defer { _ = try? owner.executeScript("DROP OWNED BY \(role)") }

            var components = try #require(URLComponents(string: url))
            components.user = role
            components.password = password
            let connection = try PostgresConnection.connect(conninfo: components.string ?? "")
            defer { connection.close() }
            let canCreate = try connection.query(
                "SELECT has_database_privilege(current_database(), 'CREATE') AS db, has_schema_privilege('otel_bridge', 'CREATE') AS schema"
            ).single()
            #expect(try !canCreate.bool("db"))
            #expect(try !canCreate.bool("schema"))

            let store = CheckpointStore(connection: connection, host: "restricted", pid: 2)
            #expect(try store.migrate() == [])
            #expect(try store.migrate() == [])
            // And the store's ordinary work.
            try connection.execute(
                "INSERT INTO otel_bridge.runs (pipeline, started_at, status) VALUES ('p', now(), 'running')"
            )
            #expect(try connection.query("SELECT count(*) AS n FROM otel_bridge.pipeline_status").single().int("n") == 0)

            // A migration this role cannot apply fails with what to do, and changes nothing.
            let last = try #require(CheckpointStore.migrations.map(\.version).max())
            try owner.execute("DELETE FROM otel_bridge.schema_migrations WHERE version = $1", [last])
            let error = try #require(throws: PostgresError.self) { try store.migrate() }
            #expect(error.sqlState == "42501")
            #expect(error.hint?.contains("migration \(last)") == true)
            #expect(error.hint?.contains("needs CREATE") == true)
            #expect(!connection.isInTransaction)
        }
    }
}
