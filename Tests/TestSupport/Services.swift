import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the integration tests find the services of `scripts/stack.sh` (`source .stack/env`), read
/// once from the environment, with the local defaults of a stack started by hand.
///
/// - `TEST_CLICKHOUSE_URL` (default `http://127.0.0.1:18123`): the ClickHouse HTTP endpoint over chDB
///   (`scripts/services/clickhouse_http.py`), user `default` without a password.
/// - `TEST_CLICKHOUSE_USER` / `TEST_CLICKHOUSE_PASSWORD` (default `bridge` / `otel-bridge-test`): a
///   second user with a password.
/// - `TEST_POSTGRES_URL` (default `postgresql://postgres:otel-bridge-test@127.0.0.1:15432/postgres`): a
///   server and a user allowed to `CREATE DATABASE`.
/// - `TEST_OTLP_URL` (default `http://127.0.0.1:14318`): the OTLP/HTTP receiver
///   (`scripts/services/otlp_receiver.py`).
public enum Services {
    public static let environment = ProcessInfo.processInfo.environment

    public static let clickHouseURL = environment["TEST_CLICKHOUSE_URL"] ?? "http://127.0.0.1:18123"
    public static let clickHouseUser = environment["TEST_CLICKHOUSE_USER"] ?? "bridge"
    public static let clickHousePassword = environment["TEST_CLICKHOUSE_PASSWORD"] ?? "otel-bridge-test"
    public static let postgresURL = environment["TEST_POSTGRES_URL"] ?? "postgresql://postgres:otel-bridge-test@127.0.0.1:15432/postgres"
    public static let otlpURL = environment["TEST_OTLP_URL"] ?? "http://127.0.0.1:14318"

    /// The repository root (config/, queries/, scripts/); this file is Tests/TestSupport/Services.swift.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// An `http://127.0.0.1:PORT` URL nothing listens on (a port the kernel just handed out and
    /// that was closed again).
    public static func closedPortURL() -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0, "socket() failed")
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let port: UInt16 = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                precondition(bind(fd, raw, length) == 0, "bind() failed")
                precondition(getsockname(fd, raw, &length) == 0, "getsockname() failed")
                return UInt16(bigEndian: pointer.pointee.sin_port)
            }
        }
        return "http://127.0.0.1:\(port)"
    }
}

/// A suffix for names that must not collide with another test's (databases, tables, attributes,
/// receiver scopes): lowercase letters and digits, so it is a valid SQL identifier part unquoted.
public func uniqueSuffix() -> String {
    String(UInt64.random(in: 0...UInt64.max), radix: 36)
}

/// A failure of the test support itself (a helper script, a control endpoint's answer).
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
