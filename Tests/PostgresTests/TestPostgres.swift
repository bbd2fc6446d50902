import Foundation
import Postgres

/// Where the integration tests find Postgres, and throwaway databases for tests that create objects.
///
/// `TEST_POSTGRES_URL` (default `postgresql://postgres:otel-bridge-test@127.0.0.1:15432/postgres`)
/// names a server and a user allowed to `CREATE DATABASE`.
enum TestPostgres {
    static let url: String =
        ProcessInfo.processInfo.environment["TEST_POSTGRES_URL"]
        ?? "postgresql://postgres:otel-bridge-test@127.0.0.1:15432/postgres"

    static var components: URLComponents {
        guard let components = URLComponents(string: Self.url) else {
            fatalError("TEST_POSTGRES_URL is not a URL")
        }
        return components
    }

    /// The same server as ``url``, database `database`.
    static func url(database: String) -> String {
        var components = Self.components
        components.path = "/" + database
        return components.string!
    }

    /// ``url`` as a key/value conninfo string.
    static var keyValueConninfo: String {
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
    static var password: String? { Self.components.password }

    static func connect(database: String? = nil) throws -> PostgresConnection {
        try PostgresConnection.connect(conninfo: database.map(Self.url(database:)) ?? Self.url)
    }

    /// Runs `body` with a URL of a new, empty database, dropped afterwards.
    static func withDatabase<Result>(_ body: (String) throws -> Result) throws -> Result {
        let name = "otel_bridge_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try Self.connect()
        defer { admin.close() }
        // Identifiers cannot be parameters; the name is generated above, not user input.
        try admin.execute("CREATE DATABASE \(name)")
        defer { _ = try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        return try body(Self.url(database: name))
    }

    /// Ends a server session from a connection of its own after `seconds`, on another thread: a
    /// test of a bound releases what it blocks on this way, so that without the bound it fails
    /// instead of hanging.
    static func terminate(pid: Int32, after seconds: Double) {
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: seconds)
            guard let killer = try? Self.connect() else { return }
            defer { killer.close() }
            _ = try? killer.query("SELECT pg_terminate_backend($1::int)", [Int(pid)])
        }
    }

    /// A random advisory lock key, so that tests sharing a database do not collide.
    static func randomKey() -> Int64 {
        Int64.random(in: Int64.min...Int64.max)
    }
}

struct TestError: Error, Equatable {
    var label = "boom"
}

/// Results collected from threads the test starts.
final class Collected<Value>: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var storage: [Value] = []

    func append(_ value: Value) {
        self.lock.lock()
        defer { self.lock.unlock() }
        self.storage.append(value)
    }

    var values: [Value] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.storage
    }
}

/// Runs `bodies` on their own threads at the same time and waits for all of them.
func runConcurrently(_ bodies: [@Sendable () -> Void]) {
    let group = DispatchGroup()
    for body in bodies {
        group.enter()
        Thread.detachNewThread {
            body()
            group.leave()
        }
    }
    group.wait()
}
