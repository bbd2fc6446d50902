import Foundation
import Logging
import Testing
import TestSupport

@testable import Postgres

/// The sslmode decision itself is unit-tested in PostgresConnectionPlanTests.
@Suite("TLS defaults against the local server")
struct PostgresTLSTests {

    @Test func localServerStillConnectsAndTheMissingTLSIsLogged() throws {
        let records = LogRecords()
        let logger = Logger(label: "test") { _ in CapturingLogHandler(records: records) }
        let connection = try PostgresConnection.connect(conninfo: TestPostgres.url, logger: logger)
        defer { connection.close() }
        #expect(connection.option("sslmode") == "prefer")
        #expect(!connection.isEncrypted)
        let warnings = records.values.filter { $0.message.contains("not encrypted") }
        #expect(warnings.count == 1)
        #expect(warnings.first?.level == .notice)
        #expect(warnings.first?.metadata["host"] == "127.0.0.1")
        let password = try #require(TestPostgres.password)
        #expect(!records.values.contains { "\($0.message) \($0.metadata)".contains(password) })
    }

    @Test func explicitSSLModeWinsAndFailsClearlyWithoutTLS() throws {
        for conninfo in [TestPostgres.url + "?sslmode=require", TestPostgres.keyValueConninfo + " sslmode=verify-full"] {
            let error = try #require(throws: PostgresError.self) { try PostgresConnection.connect(conninfo: conninfo) }
            #expect(error.code == .connectionFailed)
            #expect(error.message.contains("server does not support SSL"))
            #expect(!error.description.contains(try #require(TestPostgres.password)))
        }
    }
}
