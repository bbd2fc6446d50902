import ClickHouse
import CurlHTTP
import Environment
import Foundation
import OTLP
import Testing
import TestSupport

// MARK: - ClickHouse: answers that are not ClickHouse's, secrets, hostile text

extension ClickHouseIntegrationTests {
    @Suite("Answers that are not ClickHouse's, and secrets in errors")
    struct Hardening {
        /// Runs `body` with a ClickHouse client for this target's database and clears the faults after.
        static func withClient<T: Sendable>(_ body: @escaping @Sendable (ClickHouseClient) throws -> T) async -> Result<T, any Error> {
            let result = await onThread { try body(ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())) }
            ClientScope.resetClickHouseFaults()
            return result
        }

        @Test("a login page's 200, a 204, a redirect (not followed) or a bare 200 fail the query as unexpectedResponse", arguments: [
            ["status": 200, "content_type": "text/html; charset=utf-8", "body": "<html><form>Log in</form></html>"],
            ["status": 204],
            ["status": 302, "location": Services.clickHouseURL + "/?query=SELECT%201&default_format=RowBinaryWithNamesAndTypes", "body": ""],
            ["status": 307, "location": Services.clickHouseURL + "/", "body": ""],
            ["status": 200, "content_type": "application/octet-stream", "body": "\u{1}\u{1}c\u{5}UInt8\u{1}"],
        ] as [[String: any Sendable]])
        func foreign(answer: [String: any Sendable]) async throws {
            try ClientScope.setClickHouseFaults(["foreign_response": answer.merging(["count": 2]) { $1 }])
            let result = await Self.withClient { client in
                var errors: [ClickHouseError] = []
                do throws(ClickHouseError) { _ = try readAll(client.query("SELECT toUInt8(1) AS c")) } catch { errors.append(error) }
                do throws(ClickHouseError) { try client.execute("SELECT 1") } catch { errors.append(error) }
                return errors
            }
            let errors = try result.get()
            #expect(errors.count == 2, "both the query and the statement must fail")
            let status = answer["status"] as? Int
            for error in errors {
                #expect(error.code == .unexpectedResponse, "\(error)")
                #expect(error.httpStatus == status)
                #expect(!error.isTransient)
                if let status, (300..<400).contains(status) { #expect(error.message.contains("redirect")) }
            }
        }

        @Test("ping checks /ping and that SELECT 1 answers as ClickHouse")
        func ping() async throws {
            try await Self.withClient { try $0.ping() }.get()
            try ClientScope.setClickHouseFaults(["foreign_response": ["status": 200, "content_type": "text/html", "body": "<html>hi</html>"]])
            let failure = await Self.withClient { try $0.ping() }.failure
            let error = try #require(failure as? ClickHouseError)
            #expect(error.code == .unexpectedResponse)
            #expect(error.message.contains("X-ClickHouse"))
        }

        @Test("ping fails against a server that is not ClickHouse (the OTLP receiver answers 200 JSON on /)")
        func pingOther() async throws {
            let failure = await onThread {
                try ClickHouseClient(configuration: ClickHouseConfiguration(url: Services.otlpURL, maxExecutionTime: .seconds(5))).ping()
            }.failure
            let error = try #require(failure as? ClickHouseError)
            #expect(error.code == .unexpectedResponse)
        }

        @Test("a server message cannot forge log lines and is bounded")
        func hostileMessage() async throws {
            let message = "boom\n2026-01-01 00:00:00 INFO forged\r\u{1B}[2J" + String(repeating: "x", count: 5000)
            try ClientScope.setClickHouseFaults(["fail_status": ["status": 500, "code": 1001, "message": message, "count": 1]])
            let failure = await Self.withClient { try readAll($0.query("SELECT toUInt8(1) AS c")) }.failure
            let error = try #require(failure as? ClickHouseError)
            let text = "\(error)"
            #expect(!text.contains("\n") && !text.contains("\r") && !text.contains("\u{1B}"))
            #expect(error.message.hasPrefix("boom\\n2026-01-01 00:00:00 INFO forged\\r\\u{1B}[2J"))
            #expect(error.message.count <= ClickHouseError.serverMessageLimit + 1)
        }

        static let secret = "Zq9-S3CRET-pw"

        @Test("no error shows the password or user of a configuration full of secrets")
        func secretsInErrors() async throws {
            let closed = Services.closedPortURL().replacingOccurrences(of: "http://", with: "")
            let environments: [[String: String]] = [
                ["CLICKHOUSE_URL": "http://default:\(Self.secret)@\(closed)", "CLICKHOUSE_PASSWORD": Self.secret],
                ["CLICKHOUSE_URL": "http://default:a/\(Self.secret)@\(closed)/", "CLICKHOUSE_USER": "u-\(Self.secret)"],
                ["CLICKHOUSE_URL": "http://default:a?\(Self.secret)#@\(closed)", "CLICKHOUSE_CONNECT_TIMEOUT": "0.5"],
                ["CLICKHOUSE_URL": Services.clickHouseURL, "CLICKHOUSE_USER": "bridge", "CLICKHOUSE_PASSWORD": Self.secret + "\n"],
            ]
            for environment in environments {
                let errors = await onThread { () -> [ClickHouseError] in
                    var errors: [ClickHouseError] = []
                    do throws(ClickHouseError) {
                        let client = ClickHouseClient(configuration: try ClickHouseConfiguration(environment: EnvironmentValues(environment)))
                        do throws(ClickHouseError) { _ = try readAll(client.query("SELECT 1")) } catch { errors.append(error) }
                        do throws(ClickHouseError) { try client.ping() } catch { errors.append(error) }
                        do throws(ClickHouseError) { try client.execute("SELECT 1") } catch { errors.append(error) }
                    } catch {
                        errors.append(error)
                    }
                    return errors
                }
                let list = try errors.get()
                #expect(!list.isEmpty)
                for error in list {
                    for text in ["\(error)", String(reflecting: error), error.endpoint] {
                        #expect(!text.contains(Self.secret), "\(environment.keys.sorted()): \(text)")
                    }
                }
            }
        }
    }
}

// MARK: - OTLP: answers that are not OTLP, huge Retry-After, a receiver that is down

extension OTLPExporterIntegrationTests {
    /// Exports `run`'s batch through `exporter` on a thread of its own, timing it.
    static func timedExport(_ exporter: OTLPHTTPExporter, run: String, wire: OTLPExporterConfiguration.WireProtocol = .httpProtobuf) async -> (Result<ExportAcknowledgement, any Error>, Duration) {
        nonisolated(unsafe) let exporter = exporter
        let started = ContinuousClock.now
        let result = await onThread { () throws -> ExportAcknowledgement in
            try exporter.export(body: try SwiftProtobufMetricsEncoder().encode(batch(run: run), as: wire))
        }
        return (result, ContinuousClock.now - started)
    }

    @Test("a 200 text/html (a login page) is not an acknowledgement", arguments: [
        OTLPExporterConfiguration.WireProtocol.httpProtobuf, .httpJSON,
    ])
    func htmlIsNotAnAcknowledgement(wire: OTLPExporterConfiguration.WireProtocol) async throws {
        defer { ClientScope.clearReceiverScript() }
        try ClientScope.scriptReceiver([
            ["status": 200, "content_type": "text/html; charset=utf-8", "raw_body": "<html>sso token=BODY-SECRET</html>"],
            ["status": 200, "content_type": wire == .httpJSON ? "application/json" : "application/x-protobuf", "raw_body": "<html>not OTLP</html>"],
        ])
        for expectedType in ["text/html", wire == .httpJSON ? "application/json" : "application/x-protobuf"] {
            let export = await Self.export(run: uniqueSuffix(), configuration: Self.configuration(wire))
            let error = try #require(export.result.failure as? OTLPExportError)
            #expect(error.code == .invalidResponse)
            #expect(error.httpStatus == 200)
            #expect(error.attempts == 1)
            #expect(export.waits.isEmpty)
            #expect(error.description.contains(expectedType))
            #expect(!error.description.contains("BODY-SECRET"))
        }
    }

    @Test("Retry-After: 99999999999999999 gives up at once, saying why, instead of trapping or sleeping")
    func hugeRetryAfter() async throws {
        defer { ClientScope.clearReceiverScript() }
        try ClientScope.scriptReceiver([["status": 503, "retry_after": "99999999999999999"]])
        let export = await Self.export(run: uniqueSuffix(), configuration: Self.configuration())
        let error = try #require(export.result.failure as? OTLPExportError)
        #expect(error.code == .retriesExhausted)
        #expect(error.attempts == 1)
        #expect(export.waits.isEmpty)
        #expect(error.message.contains("asked to retry after"))
    }

    @Test("a receiver that is down: after one spent budget the same exporter makes single attempts")
    func closedPortHoldsOneBudget() async throws {
        let configuration = Self.configuration(endpoint: Services.closedPortURL() + "/v1/metrics")
        let exporter = OTLPHTTPExporter(
            configuration: configuration, signal: .metrics,
            retryPolicy: RetryPolicy(initialBackoff: .milliseconds(50), maxBackoff: .milliseconds(200), maxElapsed: .milliseconds(1500)))
        let (first, firstTook) = await Self.timedExport(exporter, run: uniqueSuffix())
        let firstError = try #require(first.failure as? OTLPExportError)
        #expect(firstError.code == .retriesExhausted)
        #expect(firstError.attempts > 1)
        #expect(firstTook >= .milliseconds(1000))
        #expect(exporter.isEndpointUnavailable)
        for _ in 0..<3 {
            let (next, took) = await Self.timedExport(exporter, run: uniqueSuffix())
            let error = try #require(next.failure as? OTLPExportError)
            #expect(error.code == .retriesExhausted)
            #expect(error.attempts == 1)
            #expect(error.message.contains("single attempt"))
            #expect(took < .milliseconds(500))
        }
    }

    @Test("single attempts last until an export is acknowledged; then retries resume")
    func recovery() async throws {
        defer { ClientScope.clearReceiverScript() }
        let waits = Collected<Duration>()
        let exporter = OTLPHTTPExporter(
            configuration: Self.configuration(), signal: .metrics,
            retryPolicy: RetryPolicy(initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(2), maxElapsed: .milliseconds(300)),
            sleep: { waits.append($0) }, random: { 0.5 })
        try ClientScope.setReceiverDefault(["status": 503])
        let (first, _) = await Self.timedExport(exporter, run: uniqueSuffix())
        #expect((first.failure as? OTLPExportError)?.code == .retriesExhausted)
        #expect(((first.failure as? OTLPExportError)?.attempts ?? 0) > 1)
        let waitsAfterFirst = waits.values.count
        let (second, _) = await Self.timedExport(exporter, run: uniqueSuffix())
        #expect((second.failure as? OTLPExportError)?.attempts == 1)
        #expect(waits.values.count == waitsAfterFirst, "no backoff while the endpoint is known to be down")

        try ClientScope.setReceiverDefault(nil)
        let (third, _) = await Self.timedExport(exporter, run: uniqueSuffix())
        #expect(try third.get().attempts == 1)
        #expect(!exporter.isEndpointUnavailable)

        try ClientScope.scriptReceiver([["status": 503], ["status": 200]])
        let (fourth, _) = await Self.timedExport(exporter, run: uniqueSuffix())
        #expect(try fourth.get().attempts == 2, "retries resume after an acknowledgement")
    }

    @Test("no header with CR, LF or NUL leaves the client")
    func headerInjection() async throws {
        for value in ["a\r\nX-Injected: 1", "a\u{0}b", "a\nb"] {
            let failure = await onThread {
                try HTTPClient().perform(HTTPRequest(method: .post, url: ClientScope.otlpMetricsEndpoint,
                                                     headers: [("X-Test", value)], body: [], timeout: .seconds(5)))
            }.failure
            let error = try #require(failure as? HTTPError)
            #expect(error.code == .invalidRequest)
            #expect(!error.description.contains("Injected"))
        }
    }
}
