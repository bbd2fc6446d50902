import ClickHouse
import Foundation
import UTCTime

/// One raw gateway row, read back from ClickHouse: what expected aggregates are computed from.
public struct GatewayRow: Sendable {
    public var createdAt: Int64  // Unix ns
    public var provider, model, workspace, cacheStatus, currency: String
    public var status: Int64
    public var inputTokens, outputTokens: Int64
    public var costCents: Double
    public var responseTimeMs: Int64
    public var requestURL: String = ""
}

/// An isolated world for one test: its own ClickHouse database, its own Postgres database, and a
/// unique `test.id` resource attribute to find its exports among everything the shared receiver got.
///
/// Both databases are dropped when the scenario goes away, which for `let s = try Scenario()` is the
/// end of the test's scope (Swift never ends a lifetime early across the I/O a test does), whether
/// the test passed, failed an expectation or threw. The Postgres drop ends sessions still connected
/// (`WITH (FORCE)`), and a cleanup error never fails a test.
public final class Scenario {
    public let id: String
    /// The ClickHouse database, holding `generations`.
    public let database: String
    /// The Postgres database for the checkpoints.
    public let postgresDatabase: String
    public let postgresURL: String
    public let clickhouse: ClickHouseClient

    public init() throws {
        id = "t" + uniqueSuffix()
        database = "it_" + id
        postgresDatabase = TestPostgres.databaseName("it_" + id)
        postgresURL = TestPostgres.url(database: postgresDatabase)
        var ch = ClickHouseConfiguration()
        ch.url = Services.clickHouseURL
        ch.database = "default"
        clickhouse = ClickHouseClient(configuration: ch)
        _ = try TestPostgres.createDatabase("it_" + id)
        try clickhouse.execute("CREATE DATABASE IF NOT EXISTS \(database)")
    }

    deinit {
        TestPostgres.dropDatabase(postgresDatabase)
        _ = try? clickhouse.execute("DROP DATABASE IF EXISTS \(database)")
    }

    /// Inserts the generator's rows for `[start, end)` (ISO 8601) into `generations`.
    public func seed(start: String, end: String, seed: Int = 11, ratePerMinute: Int = 20) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Services.root + "/.venv/bin/python")
        p.arguments = [Services.root + "/scripts/services/gen_rows.py", "--clickhouse", Services.clickHouseURL, "--database", database,
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
    public func rawRows() throws -> [GatewayRow] {
        let rows = try readAll(clickhouse.query("""
            SELECT created_at, ai_org, ai_model, workspace_slug, cache_status, cost_currency, response_status_code,
                   req_units, res_units, cost, response_time, request_url FROM \(database).generations
            """))
        return rows.map { r in
            GatewayRow(
                createdAt: r[0].unixNanoseconds!, provider: r[1].text!, model: r[2].text!, workspace: r[3].text!,
                cacheStatus: r[4].text!, currency: r[5].text!, status: r[6].int64!, inputTokens: r[7].int64!,
                outputTokens: r[8].int64!, costCents: r[9].double!, responseTimeMs: r[10].int64!, requestURL: r[11].text!)
        }
    }

    /// The bridge's environment for this scenario: its databases, the receiver, `test.id=<id>`.
    public func environment(temporality: String = "cumulative", startAt: String, extra: [String: String] = [:]) -> [String: String] {
        var env = [
            "CLICKHOUSE_URL": Services.clickHouseURL,
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

    /// A copy of `config/bridge.yaml` with `lines` added under `defaults:` (query paths made
    /// absolute), for `BRIDGE_CONFIG`; it lives in the system's temporary folder.
    public func config(defaults lines: [String]) throws -> String {
        var text = try String(contentsOfFile: Services.root + "/config/bridge.yaml", encoding: .utf8)
        text = text.replacingOccurrences(of: "../queries/", with: Services.root + "/queries/")
        guard let range = text.range(of: "\ndefaults:\n") else { throw TestFailure("config/bridge.yaml has no defaults:") }
        text.replaceSubrange(range, with: "\ndefaults:\n" + lines.map { "  " + $0 + "\n" }.joined())
        let path = NSTemporaryDirectory() + "/bridge-\(id).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The data points this scenario's exports delivered, decoded by the receiver.
    public func received() throws -> [ReceivedPoint] {
        try Receiver.points(resourceKey: "test.id", value: id)
    }

    /// The `otel_bridge.*` self-telemetry points this scenario's runs delivered.
    public func receivedSelfTelemetry() throws -> [ReceivedPoint] {
        try Receiver.points(resourceKey: "test.id", value: id, selfTelemetry: true)
    }

    /// This scenario's own receiver scope (`/s/<id>`).
    public var receiverScope: String { "/s/\(id)" }
}

/// Reads every row of `stream`.
public func readAll(_ stream: ClickHouseRowStream) throws(ClickHouseError) -> [[ClickHouseValue]] {
    var rows: [[ClickHouseValue]] = []
    var row: [ClickHouseValue] = []
    while try stream.next(into: &row) { rows.append(row) }
    return rows
}

/// Parses `2026-01-01T10:00:00Z` for tests.
public func ns(_ iso: String) -> Int64 { UTCInstant(iso8601: iso)!.unixNanoseconds }
