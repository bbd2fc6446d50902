import Checkpoints
import ClickHouse
import CurlHTTP
import Foundation
import Logging
import OTLP
import Postgres
import Bridge
import Rollup
import Testing
import UTCTime

/// The real services of `scripts/stack.sh`, from the environment with local defaults.
enum Services {
    static let env = ProcessInfo.processInfo.environment
    static let clickhouseURL = env["TEST_CLICKHOUSE_URL"] ?? "http://127.0.0.1:18123"
    static let postgresURL = env["TEST_POSTGRES_URL"] ?? "postgresql://postgres:otel-bridge-test@127.0.0.1:15432/postgres"
    static let otlpURL = env["TEST_OTLP_URL"] ?? "http://127.0.0.1:14318"
    /// The repository root (config/, queries/, scripts/).
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
}

/// One raw gateway row, read back from ClickHouse: what expected aggregates are computed from.
struct GatewayRow {
    var createdAt: Int64  // Unix ns
    var provider, model, workspace, cacheStatus, currency: String
    var status: Int64
    var inputTokens, outputTokens: Int64
    var costCents: Double
    var responseTimeMs: Int64
}

/// An isolated world for one test: its own ClickHouse database, its own Postgres database, and a
/// unique `test.id` resource attribute to find its exports among everything the shared receiver got.
final class Scenario {
    let id: String
    let database: String
    let postgresURL: String
    let clickhouse: ClickHouseClient
    let logger = Logger(label: "it")

    init() throws {
        id = "t" + String(UInt64.random(in: 0..<UInt64.max), radix: 36)
        database = "it_" + id
        var ch = ClickHouseConfiguration()
        ch.url = Services.clickhouseURL
        ch.database = "default"
        clickhouse = ClickHouseClient(configuration: ch)
        let admin = try PostgresConnection.connect(conninfo: Services.postgresURL)
        _ = try admin.execute("CREATE DATABASE \(database)")
        admin.close()
        // Same server and credentials, this test's database.
        let base = Services.postgresURL.split(separator: "?", maxSplits: 1)[0]
        postgresURL = base[..<base.lastIndex(of: "/")!] + "/" + database
        try clickhouse.execute("CREATE DATABASE IF NOT EXISTS \(database)")
    }

    /// Inserts the generator's rows for `[start, end)` (ISO 8601) into `generations`.
    func seed(start: String, end: String, seed: Int = 11, ratePerMinute: Int = 20) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Services.root + "/.venv/bin/python")
        p.arguments = [Services.root + "/scripts/services/gen_rows.py", "--clickhouse", Services.clickhouseURL, "--database", database,
                       "--start", start, "--end", end, "--seed", String(seed), "--rate-per-minute", String(ratePerMinute), "--create"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw TestFailure("gen_rows.py failed: \(text)") }
    }

    /// Every raw row, read back with a plain SELECT (no aggregation in SQL).
    func rawRows() throws -> [GatewayRow] {
        let stream = try clickhouse.query("""
            SELECT created_at, ai_org, ai_model, workspace_slug, cache_status, cost_currency, response_status_code,
                   req_units, res_units, cost, response_time FROM \(database).generations
            """)
        var rows: [GatewayRow] = []
        var r: [ClickHouseValue] = []
        while try stream.next(into: &r) {
            rows.append(GatewayRow(
                createdAt: r[0].unixNanoseconds!, provider: r[1].text!, model: r[2].text!, workspace: r[3].text!,
                cacheStatus: r[4].text!, currency: r[5].text!, status: r[6].int64!, inputTokens: r[7].int64!,
                outputTokens: r[8].int64!, costCents: r[9].double!, responseTimeMs: r[10].int64!))
        }
        return rows
    }

    func environment(temporality: String = "cumulative", startAt: String, extra: [String: String] = [:]) -> [String: String] {
        var env = [
            "CLICKHOUSE_URL": Services.clickhouseURL,
            "CLICKHOUSE_DATABASE": database,
            "CHECKPOINT_DATABASE_URL": postgresURL,
            "OTEL_PUSH_ENABLED": "true",
            "OTEL_ENDPOINT": Services.otlpURL,
            "OTEL_RESOURCE_ATTRIBUTES": "test.id=\(id)",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality,
            "BRIDGE_START_AT": startAt,
            "BRIDGE_CONFIG": Services.root + "/config/bridge.yaml",
            "BRIDGE_EXPORT_MAX_ELAPSED": "5",
        ]
        env.merge(extra) { $1 }
        return env
    }

    /// A bridge over the given environment whose clock reads `now`.
    func bridge(_ environment: [String: String], now: Int64) throws -> Bridge {
        let configuration = try BridgeConfiguration(environment: environment)
        let pipelines = try Bridge.loadPipelines(path: configuration.configPath)
        return Bridge(configuration: configuration, pipelines: pipelines, logger: logger, now: { now })
    }

    func store() throws -> CheckpointStore {
        CheckpointStore(connection: try PostgresConnection.connect(conninfo: postgresURL))
    }

    /// The data points this scenario's rollup exports delivered, decoded by the receiver (the
    /// bridge's own `otel_bridge.*` metrics, sent in requests of their own, are left out).
    func received() throws -> [ReceivedPoint] {
        try Receiver.points(resourceAttribute: ("test.id", id))
    }

    /// The `otel_bridge.*` self-telemetry points this scenario's runs delivered.
    func receivedSelfTelemetry() throws -> [ReceivedPoint] {
        try Receiver.points(resourceAttribute: ("test.id", id), selfTelemetry: true)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A data point as the OTLP receiver decoded it.
struct ReceivedPoint: Equatable, CustomStringConvertible {
    enum Value: Equatable {
        case int(Int64)
        case double(Double)
        case histogram(count: Int64, sum: Double, min: Double?, max: Double?, buckets: [Int64], bounds: [Double])
        case summary(count: Int64, sum: Double, quantiles: [Double: Double])
    }

    var metric: String
    var unit: String
    var kind: String  // sum, gauge, histogram, summary
    var temporality: Int  // 1 delta, 2 cumulative, 0 none
    var attributes: [String: String]
    var start: Int64
    var time: Int64
    var value: Value
    var request: Int  // receiver sequence number

    var seriesKey: String { attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
    var description: String { "\(metric) \(seriesKey) [\(start)..\(time)] \(value)" }
}

/// Talks to the OTLP receiver's inspection endpoints.
enum Receiver {
    static func get(_ path: String) throws -> Any {
        let response = try HTTPClient().perform(HTTPRequest(method: .get, url: Services.otlpURL + path, timeout: .seconds(30)))
        return try JSONSerialization.jsonObject(with: Data(response.body))
    }

    static func post(_ path: String, json: Any) throws {
        let body = try JSONSerialization.data(withJSONObject: json)
        let response = try HTTPClient().perform(HTTPRequest(method: .post, url: Services.otlpURL + path,
                                                            headers: [("Content-Type", "application/json")], body: Array(body), timeout: .seconds(30)))
        guard response.status == 200 else { throw TestFailure("receiver \(path) answered \(response.status)") }
    }

    /// Whether a metric is the bridge's own (``SelfTelemetry``), not a rollup's.
    static func isSelfTelemetry(_ metric: String) -> Bool { metric.hasPrefix("otel_bridge.") }

    /// Whether a recorded export is a self-telemetry request (all its metrics `otel_bridge.*`).
    static func isSelfTelemetry(record: [String: Any]) -> Bool {
        let body = record["body"] as? [String: Any] ?? [:]
        let names = (body["resourceMetrics"] as? [[String: Any]] ?? []).flatMap { rm in
            (rm["scopeMetrics"] as? [[String: Any]] ?? []).flatMap { sm in (sm["metrics"] as? [[String: Any]] ?? []).map { $0["name"] as? String ?? "" } }
        }
        return !names.isEmpty && names.allSatisfy(isSelfTelemetry)
    }

    /// Every point of every accepted metrics export whose resource carries `resourceAttribute`:
    /// the rollups' points, or with `selfTelemetry` the bridge's own `otel_bridge.*` ones.
    static func points(resourceAttribute: (String, String), selfTelemetry: Bool = false) throws -> [ReceivedPoint] {
        guard let records = try get("/__requests?signal=metrics") as? [[String: Any]] else { throw TestFailure("bad /__requests") }
        var out: [ReceivedPoint] = []
        for record in records where (record["accepted"] as? Bool) == true {
            let seq = record["seq"] as? Int ?? 0
            let body = record["body"] as? [String: Any] ?? [:]
            for rm in body["resourceMetrics"] as? [[String: Any]] ?? [] {
                let resource = attributes((rm["resource"] as? [String: Any])?["attributes"])
                guard resource[resourceAttribute.0] == resourceAttribute.1 else { continue }
                for sm in rm["scopeMetrics"] as? [[String: Any]] ?? [] {
                    for m in sm["metrics"] as? [[String: Any]] ?? [] {
                        guard isSelfTelemetry(m["name"] as? String ?? "") == selfTelemetry else { continue }
                        out += points(of: m, request: seq)
                    }
                }
            }
        }
        return out
    }

    static func attributes(_ any: Any?) -> [String: String] {
        var out: [String: String] = [:]
        for kv in any as? [[String: Any]] ?? [] {
            guard let key = kv["key"] as? String, let value = kv["value"] as? [String: Any] else { continue }
            if let s = value["stringValue"] as? String { out[key] = s }
            else if let i = value["intValue"] { out[key] = "int:\(i)" }
            else if let d = value["doubleValue"] { out[key] = "double:\(d)" }
            else if let b = value["boolValue"] { out[key] = "bool:\(b)" }
        }
        return out
    }

    static func int64(_ any: Any?) -> Int64 {
        if let s = any as? String { return Int64(s) ?? -1 }
        if let n = any as? NSNumber { return n.int64Value }
        return 0
    }

    static func double(_ any: Any?) -> Double? {
        if let n = any as? NSNumber { return n.doubleValue }
        if let s = any as? String { return Double(s) }
        return nil
    }

    static func points(of m: [String: Any], request: Int) -> [ReceivedPoint] {
        let name = m["name"] as? String ?? "", unit = m["unit"] as? String ?? ""
        var out: [ReceivedPoint] = []
        func base(_ p: [String: Any], _ kind: String, _ temporality: Int, _ value: ReceivedPoint.Value) -> ReceivedPoint {
            ReceivedPoint(metric: name, unit: unit, kind: kind, temporality: temporality, attributes: attributes(p["attributes"]),
                          start: int64(p["startTimeUnixNano"]), time: int64(p["timeUnixNano"]), value: value, request: request)
        }
        func temporality(_ d: [String: Any]) -> Int {
            switch d["aggregationTemporality"] {
            case let s as String: s == "AGGREGATION_TEMPORALITY_CUMULATIVE" ? 2 : s == "AGGREGATION_TEMPORALITY_DELTA" ? 1 : 0
            case let n as NSNumber: n.intValue
            default: 0
            }
        }
        if let sum = m["sum"] as? [String: Any] {
            for p in sum["dataPoints"] as? [[String: Any]] ?? [] {
                let v: ReceivedPoint.Value = p["asInt"] != nil ? .int(int64(p["asInt"])) : .double(double(p["asDouble"]) ?? 0)
                out.append(base(p, "sum", temporality(sum), v))
            }
        }
        if let g = m["gauge"] as? [String: Any] {
            for p in g["dataPoints"] as? [[String: Any]] ?? [] {
                let v: ReceivedPoint.Value = p["asInt"] != nil ? .int(int64(p["asInt"])) : .double(double(p["asDouble"]) ?? 0)
                out.append(base(p, "gauge", 0, v))
            }
        }
        if let h = m["histogram"] as? [String: Any] {
            for p in h["dataPoints"] as? [[String: Any]] ?? [] {
                let buckets = (p["bucketCounts"] as? [Any] ?? []).map { int64($0) }
                let bounds = (p["explicitBounds"] as? [Any] ?? []).compactMap { double($0) }
                out.append(base(p, "histogram", temporality(h), .histogram(
                    count: int64(p["count"]), sum: double(p["sum"]) ?? 0, min: double(p["min"]), max: double(p["max"]), buckets: buckets, bounds: bounds)))
            }
        }
        if let s = m["summary"] as? [String: Any] {
            for p in s["dataPoints"] as? [[String: Any]] ?? [] {
                var q: [Double: Double] = [:]
                for qv in p["quantileValues"] as? [[String: Any]] ?? [] { q[double(qv["quantile"]) ?? 0] = double(qv["value"]) ?? 0 }
                out.append(base(p, "summary", 0, .summary(count: int64(p["count"]), sum: double(p["sum"]) ?? 0, quantiles: q)))
            }
        }
        return out
    }
}

/// Parses `2026-01-01T10:00:00Z` for tests.
func ns(_ iso: String) -> Int64 { UTCInstant(iso8601: iso)!.unixNanoseconds }
