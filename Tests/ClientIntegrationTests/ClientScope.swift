import ClickHouse
import Foundation
import TestSupport

/// What this target owns on the shared services (`TestSupport.Services`): its own ClickHouse
/// database and its own receiver scope, so faults armed here never reach another target's queries
/// or exports.
enum ClientScope {
    /// This target's own receiver scope: scripted answers here never reach other targets' exports.
    static let receiverScope = "/s/client-it"
    static var otlpMetricsEndpoint: String { Receiver.metricsEndpoint(scope: receiverScope) }
    /// This target's own ClickHouse database: faults armed for it hit only its queries.
    static let database = "client_it"
    private static let databaseCreated: Void = {
        _ = try? ClickHouseClient(configuration: ClickHouseConfiguration(url: Services.clickHouseURL))
            .execute("CREATE DATABASE IF NOT EXISTS \(database)")
    }()

    /// The configuration of the test endpoint as user `default`. A `maxExecutionTime` of 30 s bounds
    /// the client's transfer limit (it adds 30 s) so that a hang fails the test within a minute.
    static func clickHouseConfiguration(database: String = ClientScope.database) -> ClickHouseConfiguration {
        _ = databaseCreated
        return ClickHouseConfiguration(url: Services.clickHouseURL, database: database, maxExecutionTime: .seconds(30))
    }

    /// Merges `faults` into the ClickHouse endpoint's fault state for this target's database
    /// (`POST /__control` with `"database"`), so only queries on it are affected.
    static func setClickHouseFaults(_ faults: [String: Any]) throws {
        try Control.post(Services.clickHouseURL + "/__control", json: faults.merging(["database": database]) { $1 })
    }

    /// Clears the faults of this target's database.
    static func resetClickHouseFaults() {
        _ = try? setClickHouseFaults([
            "mid_stream_exception": NSNull(), "fail_status": NSNull(),
            "delay_seconds": NSNull(), "exception_tag_header": true, "foreign_response": NSNull(),
        ])
    }

    /// Scripts the OTLP receiver's next answers for this target's scope.
    static func scriptReceiver(_ entries: [[String: Any]]) throws {
        try Receiver.control(scope: receiverScope, ["script": entries])
    }

    /// Sets the answer of this target's scope once its script is empty (`nil`: plain 200).
    static func setReceiverDefault(_ entry: [String: Any]?) throws {
        try Receiver.control(scope: receiverScope, ["default": entry.map { $0 as Any } ?? NSNull()])
    }

    /// Empties this target's receiver script, leaving other tests' records alone (unlike `/__reset`).
    static func clearReceiverScript() {
        _ = try? Receiver.control(scope: receiverScope, ["script": [Any](), "default": NSNull()])
    }
}
