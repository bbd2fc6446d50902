import Foundation
import Postgres

/// The test Postgres server (``Services/postgresURL``), and throwaway databases for tests that
/// create objects.
public enum TestPostgres {
    /// `TEST_POSTGRES_URL`: the server's maintenance database, as a user allowed to `CREATE DATABASE`.
    public static var url: String { Services.postgresURL }

    public static var components: URLComponents {
        guard let components = URLComponents(string: Self.url) else {
            fatalError("TEST_POSTGRES_URL is not a URL")
        }
        return components
    }

    /// The same server as ``url``, database `database`.
    public static func url(database: String) -> String {
        var components = Self.components
        components.path = "/" + database
        return components.string!
    }

    /// ``url`` as a key/value conninfo string.
    public static var keyValueConninfo: String {
        let components = Self.components
        func quoted(_ value: String) -> String {
            "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        }
        var parts: [String] = []
        if let host = components.host { parts.append("host=\(quoted(host))") }
        if let port = components.port { parts.append("port=\(port)") }
        if let user = components.user { parts.append("user=\(quoted(user))") }
        if let password = components.password { parts.append("password=\(quoted(password))") }
        let database = String(components.path.dropFirst())
        if !database.isEmpty { parts.append("dbname=\(quoted(database))") }
        return parts.joined(separator: " ")
    }

    /// The password in ``url``, so tests can check it never shows in errors.
    public static var password: String? { Self.components.password }

    public static func connect(database: String? = nil) throws -> PostgresConnection {
        try PostgresConnection.connect(conninfo: database.map(Self.url(database:)) ?? Self.url)
    }

    /// The prefix of every database ``createDatabase(_:)`` makes, so a leftover is easy to find:
    /// `SELECT datname FROM pg_database WHERE datname LIKE 'otel_bridge_test_%'`.
    public static let databasePrefix = "otel_bridge_test_"

    /// The name ``createDatabase(_:)`` gives a database for `suffix`.
    public static func databaseName(_ suffix: String) -> String { databasePrefix + suffix }

    /// Creates a new, empty database named ``databasePrefix`` + `suffix` (lowercase letters, digits
    /// and `_`) and returns its name. Drop it with ``dropDatabase(_:)``.
    public static func createDatabase(_ suffix: String = uniqueSuffix()) throws -> String {
        let name = databaseName(suffix)
        let admin = try Self.connect()
        defer { admin.close() }
        // Identifiers cannot be parameters; the name is generated above, not user input.
        try admin.execute("CREATE DATABASE \(name)")
        return name
    }

    /// Drops `name`, ending the sessions still connected to it (`WITH (FORCE)`), so that a test's
    /// open connection never makes its cleanup fail. Best effort: a cleanup error never fails a test.
    public static func dropDatabase(_ name: String) {
        guard let admin = try? Self.connect() else { return }
        defer { admin.close() }
        _ = try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Runs `body` with a URL of a new, empty database, dropped afterwards, also when `body` throws.
    public static func withDatabase<Result>(_ body: (String) throws -> Result) throws -> Result {
        let name = try createDatabase()
        defer { dropDatabase(name) }
        return try body(Self.url(database: name))
    }

    /// Ends a server session from a connection of its own after `seconds`, on another thread: a
    /// test of a bound releases what it blocks on this way, so that without the bound it fails
    /// instead of hanging.
    public static func terminate(pid: Int32, after seconds: Double) {
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: seconds)
            guard let killer = try? Self.connect() else { return }
            defer { killer.close() }
            _ = try? killer.query("SELECT pg_terminate_backend($1::int)", [Int(pid)])
        }
    }

    /// A random advisory lock key, so that tests sharing a database do not collide.
    public static func randomKey() -> Int64 {
        Int64.random(in: Int64.min...Int64.max)
    }
}
