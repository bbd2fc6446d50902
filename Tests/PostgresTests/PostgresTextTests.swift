import Foundation
import Testing
import TestSupport
import UTCTime

@testable import Postgres

/// Strings Postgres text cannot hold, and values from the server that must not trap.
@Suite("Text parameters and hostile values")
struct PostgresTextTests {

    @Test func nulIsRefusedBeforeAnythingIsSent() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        try connection.execute("BEGIN")
        let error = try #require(throws: PostgresError.self) {
            try connection.query("SELECT $1::text AS a, $2::text[] AS b", ["fine", ["x", "a\u{0}b"]])
        }
        #expect(error.code == .invalidParameter)
        #expect(error.message.contains("$2"))
        #expect(error.message.contains("PostgresText.sanitized"))
        // Had the statement reached the server, the transaction would be aborted now.
        #expect(try connection.query("SELECT 'still in the transaction' AS s").single().string("s") == "still in the transaction")
        try connection.execute("COMMIT")

        #expect(throws: PostgresError.self) { try PostgresText.validate("a\u{0}", parameter: "runs.error") }
        #expect(PostgresText.isStorable("tab\tnew\nline ☃"))
        #expect(!PostgresText.isStorable("\u{0}"))
    }

    @Test func sanitizedTextIsStorableAndRoundTrips() throws {
        let hostile = "ok\u{0}\u{1B}[2J\r\n\tline 2 \u{7F}\u{85} 👩‍👩‍👧 é" + String(repeating: "x", count: 20_000)
        let clean = PostgresText.sanitized(hostile, maxBytes: 64)
        #expect(clean.utf8.count <= 64)
        #expect(clean.hasSuffix("…"))
        #expect(clean.hasPrefix(#"ok\u{00}\u{1B}[2J\u{0D}"# + "\n\tline 2 " + #"\u{7F}\u{85}"#))
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        #expect(try connection.query("SELECT $1::text AS s", [clean]).single().string("s") == clean)
    }

    @Test func sanitizedCutsOnCharacterBoundaries() {
        #expect(PostgresText.sanitized("short") == "short")
        #expect(PostgresText.sanitized("abcdef", maxBytes: 6) == "abcdef")
        #expect(PostgresText.sanitized("abcdefg", maxBytes: 6) == "abc…")
        #expect(PostgresText.sanitized("abcdefg", maxBytes: 2) == "ab")
        #expect(PostgresText.sanitized("abc", maxBytes: 0) == "")
        #expect(PostgresText.sanitized("abc", maxBytes: -5) == "")
        // A family emoji is 18 bytes and one character: never split.
        let family = "👩‍👩‍👧"
        #expect(PostgresText.sanitized(family + family, maxBytes: 30) == family + "…")
        #expect(PostgresText.sanitized(family + family, maxBytes: 20) == "…")
        // An escape is never split either.
        #expect(PostgresText.sanitized("ab\u{1}cdef", maxBytes: 9) == "ab…")
        #expect(PostgresText.sanitized("\u{0}", maxBytes: 6) == #"\u{00}"#)
        for limit in 0..<40 {
            let cut = PostgresText.sanitized("é€😀\u{2}abc" + family, maxBytes: limit)
            #expect(cut.utf8.count <= limit)
            #expect(PostgresText.isStorable(cut))
        }
    }

    @Test func extremeTimestampsDoNotTrap() throws {
        // Postgres's latest timestamptz is beyond Int64 microseconds since 1970: no trap, no value
        // (the text itself is checked in UTCTimeTests' PostgresTimestampTests).
        #expect(PostgresTimestamp.parse("294276-12-31 23:59:59.999999+00") == nil)
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let row = try connection.query("SELECT '294276-12-31 23:59:59+00'::timestamptz AS latest").single()
        #expect(throws: PostgresError.self) { try row.date("latest") }
    }
}
