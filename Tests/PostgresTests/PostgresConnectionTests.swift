import Foundation
import Testing
import TestSupport
import UTCTime

@testable import Postgres

@Suite("PostgresConnection against a real server")
struct PostgresConnectionTests {

    // MARK: - Connecting

    @Test func connectsWithURI() throws {
        let connection = try PostgresConnection.connect(conninfo: TestPostgres.url)
        defer { connection.close() }
        let row = try connection.query(
            "SELECT current_user AS user, current_setting('application_name') AS app, current_setting('TimeZone') AS tz"
        ).single()
        #expect(try row.string("user") == TestPostgres.components.user)
        #expect(try row.string("app") == "otel-bridge")
        #expect(try row.string("tz") == "UTC")
        #expect(connection.isConnected)
    }

    @Test func connectsWithKeyValueConninfo() throws {
        let connection = try PostgresConnection.connect(conninfo: TestPostgres.keyValueConninfo, applicationName: "bridge-test")
        defer { connection.close() }
        let row = try connection.query("SELECT current_database() AS db, current_setting('application_name') AS app").single()
        #expect(try row.string("db") == String(TestPostgres.components.path.dropFirst()))
        #expect(try row.string("app") == "bridge-test")
    }

    @Test func applicationNameInConninfoWins() throws {
        let connection = try PostgresConnection.connect(conninfo: TestPostgres.keyValueConninfo + " application_name=from-conninfo")
        defer { connection.close() }
        #expect(try connection.query("SELECT current_setting('application_name') AS app").single().string("app") == "from-conninfo")
    }

    /// `conninfo: nil` means libpq's defaults from the `PG*` variables. Setting them with `setenv`
    /// inside this process would race with libpq reading the environment in tests running in
    /// parallel, so this test runs only when the variables were exported before `swift test`
    /// (`PGHOST=127.0.0.1 PGPORT=15432 PGUSER=postgres PGPASSWORD=… swift test`).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["PGHOST"] != nil, "PGHOST not set"))
    func connectsWithEnvironmentDefaults() throws {
        let environment = ProcessInfo.processInfo.environment
        for conninfo in [nil, ""] as [String?] {
            let connection = try PostgresConnection.connect(conninfo: conninfo)
            defer { connection.close() }
            let row = try connection.query("SELECT current_user AS user, inet_server_port() AS port").single()
            #expect(try row.string("user") == environment["PGUSER"] ?? NSUserName())
            if let port = environment["PGPORT"] {
                #expect(try row.optionalString("port") == port)
            }
        }
    }

    @Test func wrongPasswordIsConnectionFailedWithoutThePassword() throws {
        let wrong = "not-the-password-8f3a1c"
        var uri = TestPostgres.components
        uri.password = wrong
        var keyValue = TestPostgres.keyValueConninfo
        if let password = TestPostgres.password {
            keyValue = keyValue.replacingOccurrences(of: password, with: wrong)
        } else {
            keyValue += " password=\(wrong)"
        }
        for conninfo in [uri.string!, keyValue] {
            let error = try #require(throws: PostgresError.self) {
                try PostgresConnection.connect(conninfo: conninfo)
            }
            #expect(error.code == .connectionFailed)
            #expect(error.message.contains("password authentication failed"))
            #expect(!error.description.contains(wrong))
            #expect(!error.debugDescription.contains(wrong))
        }
    }

    @Test func unreachableServerIsConnectionFailed() throws {
        let error = try #require(throws: PostgresError.self) {
            try PostgresConnection.connect(conninfo: "postgresql://postgres:secret-pw-123@127.0.0.1:1/postgres", connectTimeout: .seconds(2))
        }
        #expect(error.code == .connectionFailed)
        #expect(error.description.contains("127.0.0.1"))
        #expect(!error.description.contains("secret-pw-123"))
    }

    @Test func malformedConninfoDoesNotEchoFragments() throws {
        let error = try #require(throws: PostgresError.self) {
            try PostgresConnection.connect(conninfo: "host=localhost hunter2secret")
        }
        #expect(error.code == .connectionFailed)
        #expect(error.message.hasPrefix("invalid connection string"))
        #expect(!error.description.contains("hunter2secret"))
    }

    // MARK: - Parameters and values

    @Test func everyBindableTypeRoundTrips() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let text = "it's \"quoted\" \\ back\\slash\nnew line\ttab Grüße 👋 {a,b} NULL"
        let date = Date(timeIntervalSince1970: 1_736_000_000.123456)
        let row = try connection.query(
            #"""
            SELECT $1::text AS s, $2::bigint AS i, $3::bigint AS i64, $4::float8 AS d, $5::bool AS b,
                   $6::timestamptz AS t, $7::bigint[] AS ints, $8::float8[] AS doubles, $9::text AS null_text,
                   $10::text[] = ARRAY['a', NULL, 'q"\', '', 'NULL', 'x,y'] AS texts_equal,
                   $11::float8 AS nan, $12::float8 AS inf, $13::bigint[] AS empty, $14::float8 AS tiny,
                   $7::bigint[] = ARRAY[1, -2, 9223372036854775807]::bigint[] AS ints_equal,
                   $8::float8[] = ARRAY[0.1, -2.5e300, 'NaN', '-Infinity']::float8[] AS doubles_equal,
                   $6::timestamptz = '2025-01-04 14:13:20.123456+00'::timestamptz AS date_equal
            """#,
            [
                text, Int.max, Int64.min, 0.1, true,
                date, [1, -2, Int64.max] as [Int64], [0.1, -2.5e300, .nan, -.infinity] as [Double], nil,
                ["a", nil, "q\"\\", "", "NULL", "x,y"] as [String?],
                Double.nan, Double.infinity, [] as [Int64], Double.leastNonzeroMagnitude,
            ]
        ).single()
        #expect(try row.string("s") == text)
        #expect(try row.int("i") == Int.max)
        #expect(try row.int64("i64") == Int64.min)
        #expect(try row.double("d") == 0.1)
        #expect(try row.bool("b") == true)
        #expect(try row.date("t").unixMicroseconds == 1_736_000_000_123_456)
        #expect(try row.date("t") == date)
        #expect(try row.int64Array("ints") == [1, -2, Int64.max])
        #expect(try row.optionalString("null_text") == nil)
        #expect(try row.text("null_text") == nil)
        #expect(try row.bool("texts_equal"))
        #expect(try row.bool("ints_equal"))
        #expect(try row.bool("doubles_equal"))
        #expect(try row.bool("date_equal"))
        #expect(try row.double("nan").isNaN)
        #expect(try row.double("inf") == .infinity)
        #expect(try row.int64Array("empty") == [])
        #expect(try row.double("tiny") == Double.leastNonzeroMagnitude)
    }

    @Test func nullParametersAndOptionalAccessors() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let none: Int64? = nil
        let some: Int64? = 42
        let row = try connection.query(
            "SELECT $1::bigint AS a, $2::bigint AS b, $3::timestamptz AS t, $4::bigint[] AS arr, $5::bool AS flag",
            [none, some, nil, nil, nil]
        ).single()
        #expect(try row.optionalInt64("a") == nil)
        #expect(try row.optionalInt64("b") == 42)
        #expect(try row.optionalDate("t") == nil)
        #expect(try row.optionalInt64Array("arr") == nil)
        #expect(try row.optionalBool("flag") == nil)
        #expect(try row.decode("b", as: Int?.self) == 42)
        let error = try #require(throws: PostgresError.self) { try row.int64("a") }
        #expect(error.code == .invalidValue)
        #expect(error.column == "a")
    }

    @Test func nulCharacterInParameterIsRejected() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let error = try #require(throws: PostgresError.self) {
            try connection.query("SELECT $1::text AS s", ["a\u{0}b"])
        }
        #expect(error.code == .invalidParameter)
        #expect(error.message.contains("$1"))
        #expect(try connection.query("SELECT 'still usable' AS s").single().string("s") == "still usable")
    }

    @Test func timestampsComeBackInUTCWhateverTheInputZone() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let row = try connection.query(
            "SELECT '2024-02-29 23:30:00.5-05:30'::timestamptz AS t, '1969-12-31 23:59:59.999999+00'::timestamptz AS before_epoch, now() AS now"
        ).single()
        #expect(PostgresTimestamp.format(try row.date("t")) == "2024-03-01T05:00:00.500000Z")
        #expect(try row.date("before_epoch").unixMicroseconds == -1)
        #expect(abs(try row.date("now").timeIntervalSinceNow) < 60)
    }

    /// An instant goes to Postgres and comes back truncated to the microsecond, exactly, at the
    /// ends of the range too: as a parameter, as an array element, read back as an instant.
    @Test("an instant through a timestamptz and back", arguments: [
        Int64.min + 999, -9_214_560_000_000_000_123, -1_001, 0, 1_736_000_000_123_456_789, Int64.max,
    ])
    func instantsRoundTrip(nanoseconds: Int64) throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let instant = UTCInstant(unixNanoseconds: nanoseconds)
        let row = try connection.query("SELECT $1::timestamptz AS t, ($2::timestamptz[])[1] AS a, (extract(epoch FROM $1::timestamptz) * 1000000)::bigint AS us",
                                       [instant, [instant]]).single()
        let truncated = UTCInstant(unixNanoseconds: nanoseconds / 1_000 * 1_000)
        #expect(try row.instant("t") == truncated)
        #expect(try row.instant("a") == truncated)
        #expect(try row.string("us") == "\(instant.unixMicroseconds)")
    }

    @Test func missingColumnAndUnparseableValueAreClearErrors() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let row = try connection.query("SELECT 'abc'::text AS word").single()
        let missing = try #require(throws: PostgresError.self) { try row.string("nope") }
        #expect(missing.code == .missingColumn)
        #expect(missing.description.contains("nope"))
        #expect(missing.description.contains("word"))
        let invalid = try #require(throws: PostgresError.self) { try row.int64("word") }
        #expect(invalid.code == .invalidValue)
        #expect(invalid.description.contains("Int64"))
        #expect(invalid.column == "word")
    }

    @Test func executeReturnsAffectedRows() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        try connection.execute("CREATE TEMP TABLE t (id int, name text)")
        #expect(try connection.execute("INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 5) g") == 5)
        #expect(try connection.execute("UPDATE t SET name = $1 WHERE id > $2", ["big", 3]) == 2)
        let rows = try connection.query("SELECT id, name FROM t ORDER BY id")
        #expect(rows.count == 5)
        #expect(rows.columns == ["id", "name"])
        #expect(try rows.map { try $0.string("name") } == ["n1", "n2", "n3", "big", "big"])
    }

    // MARK: - Errors

    @Test func sqlErrorCarriesSQLStateAndMessage() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let error = try #require(throws: PostgresError.self) {
            try connection.query("SELECT * FROM no_such_table_here WHERE id = $1", [1])
        }
        #expect(error.code == .queryFailed)
        #expect(error.sqlState == "42P01")
        #expect(error.message == "relation \"no_such_table_here\" does not exist")
        #expect(error.query == "SELECT * FROM no_such_table_here WHERE id = $1")
        #expect(error.file.hasSuffix("PostgresConnectionTests.swift"))
        #expect(error.description.contains("42P01"))

        let unique = try #require(throws: PostgresError.self) {
            try connection.executeScript("CREATE TEMP TABLE u (id int PRIMARY KEY); INSERT INTO u VALUES (1), (1)")
        }
        #expect(unique.sqlState == "23505")
        #expect(unique.detail == "Key (id)=(1) already exists.")
        #expect(connection.isConnected)
    }

    @Test func terminatedBackendIsConnectionLost() throws {
        let victim = try TestPostgres.connect()
        defer { victim.close() }
        let killer = try TestPostgres.connect()
        defer { killer.close() }
        let pid = try #require(victim.backendPID)
        #expect(try victim.query("SELECT pg_backend_pid() AS pid").single().int("pid") == Int(pid))
        #expect(try killer.query("SELECT pg_terminate_backend($1::int) AS done", [Int(pid)]).single().bool("done"))
        let error = try #require(throws: PostgresError.self) { try victim.ping() }
        #expect(error.code == .connectionLost)
        #expect(!victim.isConnected)
        // A dead session is in no transaction: a transaction begun on it fails as the connection
        // it is, not as a nested transaction.
        #expect(!victim.isInTransaction)
        let again = try #require(throws: PostgresError.self) { try victim.transaction { try victim.ping() } }
        #expect(again.code == .connectionLost)
    }

    @Test func closedConnectionThrowsConnectionClosed() throws {
        let connection = try TestPostgres.connect()
        try connection.ping()
        connection.close()
        connection.close()
        #expect(!connection.isConnected)
        #expect(connection.backendPID == nil)
        let error = try #require(throws: PostgresError.self) { try connection.ping() }
        #expect(error.code == .connectionClosed)
    }

    // MARK: - Transactions

    @Test func transactionCommitsAndRollsBackOnError() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        try connection.execute("CREATE TEMP TABLE tx (id int)")

        let value = try connection.transaction {
            try connection.execute("INSERT INTO tx VALUES (1)")
            #expect(connection.isInTransaction)
            return 7
        }
        #expect(value == 7)
        #expect(!connection.isInTransaction)

        #expect(throws: TestError()) {
            try connection.transaction {
                try connection.execute("INSERT INTO tx VALUES (2)")
                throw TestError()
            }
        }
        #expect(!connection.isInTransaction)

        // A failing statement aborts the transaction; its error is the one thrown.
        let error = try #require(throws: PostgresError.self) {
            try connection.transaction {
                try connection.execute("INSERT INTO tx VALUES (3)")
                try connection.execute("INSERT INTO tx VALUES ('not a number')")
            }
        }
        #expect(error.sqlState == "22P02")
        #expect(try connection.query("SELECT id FROM tx ORDER BY id").map { try $0.int("id") } == [1])
    }

    @Test func nestedTransactionIsRefused() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let error = try #require(throws: PostgresError.self) {
            try connection.transaction {
                try connection.transaction {}
            }
        }
        #expect(error.code == .nestedTransaction)
        #expect(!connection.isInTransaction)
    }

    @Test func originalErrorWinsWhenRollbackFails() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let killer = try TestPostgres.connect()
        defer { killer.close() }
        let pid = try #require(connection.backendPID)
        #expect(throws: TestError(label: "original")) {
            try connection.transaction {
                try killer.execute("SELECT pg_terminate_backend($1::int)", [Int(pid)])
                throw TestError(label: "original")
            }
        }
        #expect(!connection.isConnected)
    }

    // MARK: - Prepared statements

    /// The session's prepared statements named by the bridge, by statement text.
    private static func preparedStatements(_ connection: PostgresConnection) throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try connection.query("SELECT name, statement FROM pg_prepared_statements WHERE name LIKE 'otel_bridge_%'") {
            out[try row.string("statement")] = try row.string("name")
        }
        return out
    }

    @Test("a statement is prepared at its second run and reused after, with the same results")
    func statementPreparedAtSecondRun() throws {
        let connection = try PostgresConnection.connect(conninfo: TestPostgres.url)
        defer { connection.close() }
        let sql = "SELECT $1::bigint * 2 AS twice, $2::text AS label"
        var names: [String?] = []
        for k in 1...4 {
            let row = try connection.query(sql, [Int64(k), "run \(k)"]).single()
            #expect(try row.int64("twice") == Int64(2 * k))
            #expect(try row.string("label") == "run \(k)")
            names.append(try Self.preparedStatements(connection)[sql])
        }
        #expect(names[0] == nil, "a statement run once is not prepared")
        #expect(names[1] != nil && names[1] == names[2] && names[2] == names[3], "prepared once, then reused: \(names)")
    }

    @Test("parameters of other types (a NULL first, then a value) are another prepared statement")
    func otherParameterTypesAreAnotherStatement() throws {
        let connection = try PostgresConnection.connect(conninfo: TestPostgres.url)
        defer { connection.close() }
        let sql = "SELECT coalesce($1::bigint, -1) AS v"
        for _ in 0..<2 { #expect(try connection.query(sql, [nil]).single().int64("v") == -1) }
        for _ in 0..<2 { #expect(try connection.query(sql, [Int64(7)]).single().int64("v") == 7) }
        let count = try connection.query("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = $1", [sql]).single().int64("n")
        #expect(count == 2)
    }

    @Test("a prepared statement outlives a rolled-back transaction and a failed run, and keeps its name")
    func preparedStatementsAcrossRollbackAndFailure() throws {
        let connection = try PostgresConnection.connect(conninfo: TestPostgres.url)
        defer { connection.close() }
        let sql = "SELECT 10 / $1::int AS q"
        try connection.execute("BEGIN")
        for _ in 0..<2 { #expect(try connection.query(sql, [Int64(5)]).single().int64("q") == 2) }
        try connection.execute("ROLLBACK")
        let name = try #require(try Self.preparedStatements(connection)[sql])
        #expect(try connection.query(sql, [Int64(2)]).single().int64("q") == 5)
        #expect(throws: PostgresError.self) { try connection.query(sql, [Int64(0)]) }  // division by zero
        #expect(try connection.query(sql, [Int64(1)]).single().int64("q") == 10)
        let names = try connection.query("SELECT name FROM pg_prepared_statements WHERE statement = $1", [sql]).map { try $0.string("name") }
        #expect(names == [name], "one statement, reused after the rollback and the failure")
    }

    @Test("a prepared statement whose result changed with the schema is prepared anew")
    func statementPreparedAgainAfterSchemaChange() throws {
        let connection = try PostgresConnection.connect(conninfo: TestPostgres.url)
        defer { connection.close() }
        try connection.execute("CREATE TEMP TABLE plan_change (a bigint)")
        try connection.execute("INSERT INTO plan_change VALUES (1)")
        let sql = "SELECT * FROM plan_change WHERE a = $1"
        for _ in 0..<2 { #expect(try connection.query(sql, [Int64(1)]).count == 1) }
        let before = try #require(try Self.preparedStatements(connection)[sql])
        try connection.execute("ALTER TABLE plan_change ADD COLUMN b text")
        do {
            _ = try connection.query(sql, [Int64(1)])
            Issue.record("a plan whose result changed ran")
        } catch {
            #expect(error.sqlState == "0A000", "\(error)")
        }
        // Unnamed once, then prepared under a new name; the rows carry the new column.
        for _ in 0..<2 {
            let row = try connection.query(sql, [Int64(1)]).single()
            #expect(try row.int64("a") == 1 && row.optionalString("b") == nil)
        }
        let names = try connection.query("SELECT name FROM pg_prepared_statements WHERE statement = $1 ORDER BY prepare_time", [sql])
            .map { try $0.string("name") }
        #expect(names.count == 2 && names.first == before, "the stale statement and a new one: \(names)")
    }

    // MARK: - Advisory locks

    @Test func advisoryLockExcludesOtherSessionsUntilUnlockOrClose() throws {
        let key = TestPostgres.randomKey()
        let first = try TestPostgres.connect()
        defer { first.close() }
        let second = try TestPostgres.connect()
        defer { second.close() }

        #expect(try first.tryAdvisoryLock(key: key))
        #expect(try !second.tryAdvisoryLock(key: key))
        #expect(try first.advisoryUnlock(key: key))
        #expect(try !first.advisoryUnlock(key: key))
        #expect(try second.tryAdvisoryLock(key: key))
        #expect(try !first.tryAdvisoryLock(key: key))

        // Closing releases the lock once the server has ended the session.
        second.close()
        var acquired = false
        for _ in 0..<50 where !acquired {
            acquired = try first.tryAdvisoryLock(key: key)
            if !acquired { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(acquired)
    }

    @Test func lockKeyIsStableFNV1a() {
        // FNV-1a 64 of "otel_bridge:" + name; the values are part of the operator docs.
        #expect(PostgresConnection.lockKey(for: "default") == PostgresConnection.lockKey(for: "default"))
        #expect(PostgresConnection.lockKey(for: "a") != PostgresConnection.lockKey(for: "b"))
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in Array("otel_bridge:".utf8) {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        #expect(PostgresConnection.lockKey(for: "") == Int64(bitPattern: hash))
    }

    // MARK: - Text formats without a server

    /// An array whose element type has a binary form goes in binary format; the server must read
    /// it as the same value it reads from the array's text literal (sent as a plain string and
    /// cast, so it takes the text path).
    @Test(arguments: [
        ("bigint[]", [1, -2, nil, Int64.max, Int64.min, 0] as [Int64?] as any PostgresBindable & Sendable),
        ("bigint[]", [] as [Int64]),
        ("bigint[]", [nil, nil] as [Int64?]),
        ("bigint[]", [7, -7] as [Int32]),
        ("bigint[]", [Int.max, Int.min] as [Int]),
        ("float8[]", [0.1, -0.0, .nan, .infinity, -.infinity, .leastNonzeroMagnitude, -2.5e300, nil] as [Double?]),
        ("text[]", ["a", nil, "q\"\\", "", "NULL", "x,y", "{b}", " sp ", "Grüße 👋", "new\nline"] as [String?]),
        ("text[]", [] as [String]),
        ("bool[]", [true, false, nil] as [Bool?]),
        ("float8[]", [1.5, -0.0, .infinity] as [Double]),
        ("uuid[]", [PostgresUUID(high: 0x0123_4567_89ab_cdef, low: .max), PostgresUUID(high: 0, low: 1), PostgresUUID(high: .max, low: 0)]),
        ("uuid[]", [] as [PostgresUUID]),
        ("uuid[]", [PostgresUUID(high: 1, low: 2), nil] as [PostgresUUID?]),
    ])
    func binaryArraysReadAsTheirText(type: String, array: any PostgresBindable & Sendable) throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        #expect(array.postgresBinary != nil)
        let row = try connection.query(
            "SELECT $1::\(type)::text AS binary, $2::text::\(type)::text AS text, $1::\(type) IS NOT DISTINCT FROM $2::text::\(type) AS same",
            [array, array.postgresText]
        ).single()
        #expect(try row.string("binary") == row.string("text"))
        #expect(try row.bool("same"))
    }

    @Test func arraysWithoutABinaryFormGoAsText() throws {
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        let dates = [Date(timeIntervalSince1970: 1_736_000_000.123456), Date(timeIntervalSince1970: 0)]
        #expect(dates.postgresBinary == nil)
        let row = try connection.query("SELECT $1::timestamptz[] = ARRAY['2025-01-04 14:13:20.123456+00', '1970-01-01 00:00:00+00']::timestamptz[] AS same", [dates]).single()
        #expect(try row.bool("same"))
        // A NUL cannot go in binary either: the array goes as text, whose check names the parameter.
        let withNUL = ["fine", "a\u{0}b"]
        #expect(withNUL.postgresBinary == nil)
        let error = try #require(throws: PostgresError.self) { try connection.query("SELECT $1::text[] AS a", ["x", withNUL]) }
        #expect(error.code == .invalidParameter)
        #expect(error.message.contains("$2"))
    }

    @Test func uuidText() throws {
        let uuid = PostgresUUID(high: 0x0123_4567_89ab_cdef, low: 0xfedc_ba98_7654_3210)
        #expect(uuid.description == "01234567-89ab-cdef-fedc-ba9876543210")
        #expect(PostgresUUID(uuid.description) == uuid)
        #expect(PostgresUUID("0123456789ABCDEFFEDCBA9876543210") == uuid)
        #expect(PostgresUUID("0123") == nil)
        #expect(PostgresUUID("01234567-89ab-cdef-fedc-ba98765432100") == nil)
        #expect(PostgresUUID("g1234567-89ab-cdef-fedc-ba9876543210") == nil)
        #expect(PostgresUUID(bytes: [UInt8](0..<16)) == PostgresUUID(high: 0x0001_0203_0405_0607, low: 0x0809_0a0b_0c0d_0e0f))
        let connection = try TestPostgres.connect()
        defer { connection.close() }
        #expect(try connection.query("SELECT $1::uuid AS u", [uuid]).single().decode("u", as: PostgresUUID.self) == uuid)
    }

    @Test func arrayLiterals() throws {
        #expect(([1, -2, 3] as [Int64]).postgresText == "{1,-2,3}")
        #expect(([] as [Int64]).postgresText == "{}")
        #expect((["a\"b", "c\\d", nil] as [String?]).postgresText == #"{"a\"b","c\\d",NULL}"#)
        #expect(([1.5, .nan, .infinity] as [Double]).postgresText == "{1.5,NaN,Infinity}")
        #expect(try [Int64](postgresText: "{1,-2,3}") == [1, -2, 3])
        #expect(try [Int64](postgresText: "{}") == [])
        #expect(throws: PostgresDecodingFailure.self) { try [Int64](postgresText: "{1,NULL}") }
        #expect(throws: PostgresDecodingFailure.self) { try [Int64](postgresText: "1,2") }
    }
}
