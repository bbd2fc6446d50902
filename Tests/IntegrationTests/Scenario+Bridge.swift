import Bridge
import Commands
import Observability
import Service
import Checkpoints
import Logging
import Postgres
import TestSupport

extension Scenario {
    /// A bridge over the given environment whose clock reads `now`.
    func bridge(_ environment: [String: String], now: Int64) throws -> Bridge {
        let configuration = try BridgeConfiguration(environment: environment)
        let pipelines = try Bridge.loadPipelines(path: configuration.configPath, conventions: configuration.genAIConventions)
        return Bridge(configuration: configuration, pipelines: pipelines, logger: Logger(label: "it"), now: { now })
    }

    /// A checkpoint store on this scenario's Postgres database.
    func store() throws -> CheckpointStore {
        CheckpointStore(connection: try PostgresConnection.connect(conninfo: postgresURL))
    }
}
