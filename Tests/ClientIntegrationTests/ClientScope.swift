import ClickHouse
import CurlHTTP
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Where the client integration tests find the services of `scripts/stack.sh`, and small helpers
/// for their control endpoints.
///
/// - `TEST_CLICKHOUSE_URL` (default `http://127.0.0.1:18123`): the ClickHouse HTTP endpoint over chDB
///   (`scripts/services/clickhouse_http.py`), user `default` without a password.
/// - `TEST_CLICKHOUSE_USER` / `TEST_CLICKHOUSE_PASSWORD` (default `bridge` / `otel-bridge-test`): a
///   second user with a password.
/// - `TEST_OTLP_URL` (default `http://127.0.0.1:14318`): the OTLP/HTTP receiver
///   (`scripts/services/otlp_receiver.py`).
enum TestServices {
    static let environment = ProcessInfo.processInfo.environment

    static let clickHouseURL = environment["TEST_CLICKHOUSE_URL"] ?? "http://127.0.0.1:18123"
    static let clickHouseUser = environment["TEST_CLICKHOUSE_USER"] ?? "bridge"
    static let clickHousePassword = environment["TEST_CLICKHOUSE_PASSWORD"] ?? "otel-bridge-test"
    static let otlpURL = environment["TEST_OTLP_URL"] ?? "http://127.0.0.1:14318"
    /// This target's own receiver scope: scripted answers here never reach other targets' exports.
    static let receiverScope = "/s/client-it"
    static var otlpMetricsEndpoint: String { otlpURL + receiverScope + "/v1/metrics" }
    /// This target's own ClickHouse database: faults armed for it hit only its queries.
    static let database = "client_it"
    private static let databaseCreated: Void = {
        _ = try? ClickHouseClient(configuration: ClickHouseConfiguration(url: clickHouseURL)).execute("CREATE DATABASE IF NOT EXISTS \(database)")
    }()

    /// A suffix for names that must not collide with another test's (databases, tables, attributes).
    static func uniqueSuffix() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    /// The configuration of the test endpoint as user `default`. A `maxExecutionTime` of 30 s bounds
    /// the client's transfer limit (it adds 30 s) so that a hang fails the test within a minute.
    static func clickHouseConfiguration(database: String = TestServices.database) -> ClickHouseConfiguration {
        _ = databaseCreated
        return ClickHouseConfiguration(url: clickHouseURL, database: database, maxExecutionTime: .seconds(30))
    }

    /// An `http://127.0.0.1:PORT` URL nothing listens on (a port the kernel just handed out and
    /// that was closed again).
    static func closedPortURL() -> String {
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

    // MARK: - Control endpoints

    /// POSTs `json` to a control endpoint and returns the answer's body; fails on a non-2xx status.
    @discardableResult
    static func post(_ url: String, json: Any = [String: Any]()) throws -> [UInt8] {
        let body = try JSONSerialization.data(withJSONObject: json)
        let response = try HTTPClient().perform(HTTPRequest(
            method: .post, url: url, headers: [("Content-Type", "application/json")],
            body: Array(body), timeout: .seconds(10)))
        guard (200..<300).contains(response.status) else {
            throw ControlError(url: url, status: response.status, body: response.bodyText)
        }
        return response.body
    }

    static func getJSON(_ url: String) throws -> Any {
        let response = try HTTPClient().perform(HTTPRequest(method: .get, url: url, timeout: .seconds(10)))
        guard response.status == 200 else {
            throw ControlError(url: url, status: response.status, body: response.bodyText)
        }
        return try JSONSerialization.jsonObject(with: Data(response.body))
    }

    /// Merges `faults` into the ClickHouse endpoint's fault state for this target's database
    /// (`POST /__control` with `"database"`), so only queries on it are affected.
    static func setClickHouseFaults(_ faults: [String: Any]) throws {
        try post(clickHouseURL + "/__control", json: faults.merging(["database": database]) { $1 })
    }

    /// Clears the faults of this target's database.
    static func resetClickHouseFaults() {
        _ = try? post(clickHouseURL + "/__control", json: [
            "database": database, "mid_stream_exception": NSNull(), "fail_status": NSNull(),
            "delay_seconds": NSNull(), "exception_tag_header": true, "foreign_response": NSNull(),
        ])
    }

    /// Scripts the OTLP receiver's next answers for this target's scope (`POST /__control`).
    static func scriptReceiver(_ entries: [[String: Any]]) throws {
        try post(otlpURL + "/__control", json: ["scope": receiverScope, "script": entries])
    }

    /// Sets the answer of this target's scope once its script is empty (`nil`: plain 200).
    static func setReceiverDefault(_ entry: [String: Any]?) throws {
        try post(otlpURL + "/__control", json: ["scope": receiverScope, "default": entry.map { $0 as Any } ?? NSNull()])
    }

    /// Empties this target's receiver script, leaving other tests' records alone (unlike `/__reset`).
    static func clearReceiverScript() {
        _ = try? post(otlpURL + "/__control", json: ["scope": receiverScope, "script": [Any](), "default": NSNull()])
    }

    /// The receiver's records of metrics exports whose resource carries `key` = `value`, oldest first.
    static func receivedMetrics(resourceKey key: String, value: String) throws -> [[String: Any]] {
        let all = try #require(getJSON(otlpURL + "/__requests?signal=metrics") as? [[String: Any]])
        return all.filter { record in
            guard let body = record["body"] as? [String: Any],
                  let resourceMetrics = body["resourceMetrics"] as? [[String: Any]] else { return false }
            return resourceMetrics.contains { rm in
                let attributes = (rm["resource"] as? [String: Any])?["attributes"] as? [[String: Any]] ?? []
                return attributes.contains {
                    $0["key"] as? String == key && ($0["value"] as? [String: Any])?["stringValue"] as? String == value
                }
            }
        }
    }

    struct ControlError: Error, CustomStringConvertible {
        var url: String
        var status: Int
        var body: String
        var description: String { "control request \(url) answered \(status): \(body)" }
    }
}

/// Runs blocking work (libcurl transfers, the exporter's sleeps) on a thread of its own, off
/// Swift's cooperative pool, and returns its outcome.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async -> Result<T, any Error> {
    await withCheckedContinuation { continuation in
        let thread = Thread {
            continuation.resume(returning: Result { try body() })
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
}

extension Result {
    /// The error of a failure, `nil` for a success.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Reads every row of `stream`.
func readAll(_ stream: ClickHouseRowStream) throws(ClickHouseError) -> [[ClickHouseValue]] {
    var rows: [[ClickHouseValue]] = []
    var row: [ClickHouseValue] = []
    while try stream.next(into: &row) { rows.append(row) }
    return rows
}

/// Values a closure running on another thread hands back (the exporter's `sleep` calls).
final class Recorder<Value: Sendable>: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var storage: [Value] = []

    func append(_ value: Value) {
        lock.lock()
        defer { lock.unlock() }
        storage.append(value)
    }

    var values: [Value] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}
