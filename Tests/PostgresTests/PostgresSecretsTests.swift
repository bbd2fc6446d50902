import Foundation
import Testing
import TestSupport

@testable import Postgres

/// No error text that leaves the Postgres module holds a secret of the connection string.
@Suite("Secrets never in errors or logs")
struct PostgresSecretsTests {
    static let secret = "Pw0rd-S3cret-42"

    /// Every text of an error a caller or a log could see.
    func texts(_ error: PostgresError) -> [String] {
        [error.description, error.debugDescription, error.message, error.detail ?? "", error.hint ?? "", "\(error)"]
    }

    func port() -> Int { TestPostgres.components.port ?? 5432 }

    /// Malformed and wrong connection strings with the recognisable password in every position and
    /// encoding libpq might quote back. Each must fail with no trace of the password.
    var battery: [String] {
        let s = Self.secret
        let p = self.port()
        return [
            // Raw '@' or '/' in the password: libpq would read fragments as host, port or database.
            "postgresql://u:\(s)@ss/w@rd@127.0.0.1:\(p)/db",
            "postgresql://u:p@\(s)@127.0.0.1:\(p)/db",
            "postgresql://u:\(s)/x@127.0.0.1:\(p)/db",
            "postgres://u:\(s)@127.0.0.1:\(p)/db@x",
            // Invalid percent-encoding inside the password.
            "postgresql://u:\(s)%zz@127.0.0.1:\(p)/db",
            "postgresql://u:%\(s)@127.0.0.1:\(p)/db",
            "postgresql://u:\(s)%@127.0.0.1:\(p)/db",
            // libpq quotes the whole URI in some messages.
            "postgresql://u:\(s)@[::1/db",
            "postgresql://u:\(s)@127.0.0.1:\(p)/db?nosuchparameter=1",
            "postgresql://u:\(s)@127.0.0.1:99999/db",
            "postgresql://u:\(s)@127.0.0.1:notaport/db",
            "postgresql://\(s)@127.0.0.1:\(p)/db?sslmode=bogus",
            "postgresql://u:\(s)@127.0.0.1:\(p)/db?password=\(s)&sslmode=nope",
            // Percent-encoded password.
            "postgresql://u:\(s.replacingOccurrences(of: "-", with: "%2D"))@127.0.0.1:\(p)/db?sslmode=bogus",
            "postgresql://postgres:\(s.replacingOccurrences(of: "-", with: "%2d"))@127.0.0.1:\(p)/postgres",
            // Wrong scheme: read as key/value by libpq.
            "postgresq://u:\(s)@127.0.0.1:\(p)/db",
            // Key/value strings.
            "host=127.0.0.1 port=\(p) password=\(s) port=abc",
            "host=127.0.0.1 port=\(p) password='\(s)",
            "host=127.0.0.1 port=\(p) password = '\(s) x' nonsense",
            "host=127.0.0.1 port=\(p) \(s)",
            "host=127.0.0.1 port=\(p) password=\(s) sslmode=require",
            "host=127.0.0.1 port=\(p) user=postgres password=\(s) dbname=postgres",
            // Control characters around the password.
            "postgresql://u:\(s)%0A%1B[31m@127.0.0.1:\(p)/db?sslmode=bogus",
            // Refused connection: libpq names host and port.
            "postgresql://u:\(s)@127.0.0.1:1/db?connect_timeout=2",
        ]
    }

    @Test func noMalformedOrWrongConninfoLeaksThePassword() throws {
        for conninfo in self.battery {
            let error = try #require(throws: PostgresError.self, "\(conninfo)") {
                try PostgresConnection.connect(conninfo: conninfo, connectTimeout: .seconds(2))
            }
            #expect(error.code == .connectionFailed)
            for text in self.texts(error) {
                #expect(!text.contains(Self.secret), "leaked by \(conninfo): \(text)")
                #expect(!text.contains("S3cret"), "fragment leaked by \(conninfo): \(text)")
                #expect(!text.contains("\n") && !text.contains("\u{1B}"), "control character in: \(text)")
            }
        }
    }

    @Test func unparseableStringsSayWhichFormWasExpected() throws {
        for conninfo in ["postgresql://u:\(Self.secret)@ss/w@rd@127.0.0.1/db", "host=127.0.0.1 \(Self.secret)"] {
            let error = try #require(throws: PostgresError.self) { try PostgresConnection.connect(conninfo: conninfo) }
            #expect(error.message.contains("postgresql://user:password@host:port/dbname"))
            #expect(error.message.contains("host=db port=5432"))
            #expect(error.message.contains("not shown"))
        }
    }

    @Test func redactorCoversEveryForm() {
        let redactor = PostgresRedactor(
            conninfo: "postgresql://bridge:p%40ss%2Fw0rd@db/x", parsedOptions: ["password": "p@ss/w0rd"],
            environment: ["PGPASSWORD": "env-secret"]
        )
        #expect(redactor.redact("a p@ss/w0rd b") == "a *** b")
        #expect(redactor.redact("a p%40ss%2Fw0rd b") == "a *** b")
        #expect(redactor.redact("a p%40ss%2fw0rd b") == "a *** b")
        #expect(redactor.redact("bridge:p%40ss%2Fw0rd@db") == "***@db")
        #expect(redactor.redact("env-secret") == "***")
        #expect(redactor.redact("user \"bridge\" on db") == "user \"bridge\" on db")

        let keyValue = PostgresRedactor(conninfo: #"host=db password='it\'s secret' user=x"#, parsedOptions: [:], environment: [:])
        #expect(keyValue.redact("it's secret") == "***")
        #expect(keyValue.redact(#"it\'s secret"#) == "***")
    }

    @Test func serverTextIsOnOneLineWithoutTerminalControls() {
        #expect(PostgresRedactor.escapingControlCharacters("failed: refused\n\tIs the server running?\n")
            == "failed: refused; Is the server running?")
        #expect(PostgresRedactor.escapingControlCharacters("a\u{1B}[31mred\u{0}\u{7F}\u{85}\tb")
            == #"a\u{1B}[31mred\u{00}\u{7F}\u{85} b"#)
    }

    @Test func queryErrorsAreRedactedToo() throws {
        // The server quotes the value back ("invalid input syntax … "<password>""): a statement
        // error that happens to contain the password loses it.
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let password = try #require(TestPostgres.password)
        let error = try #require(throws: PostgresError.self) {
            try connection.query("SELECT ('x' || $1)::int", [password])
        }
        #expect(error.sqlState == "22P02")
        for text in self.texts(error) {
            #expect(!text.contains(password), "\(text)")
        }
        #expect(error.message.contains("***"))
    }
}
