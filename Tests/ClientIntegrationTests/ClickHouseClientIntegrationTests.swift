import ClickHouse
import CurlHTTP
import Foundation
import Testing
import TestSupport

/// `ClickHouseClient` against the ClickHouse HTTP endpoint of `scripts/stack.sh` (chDB 26.x).
///
/// Serialized as a whole: the endpoint's faults (`POST /__control`), armed for this target's own
/// database, are consumed by whichever of its SELECTs comes next, so no other query of this target
/// may run while a fault is armed.
@Suite("ClickHouse client against the test endpoint", .serialized)
enum ClickHouseIntegrationTests {}

// MARK: - Values

extension ClickHouseIntegrationTests {
    @Suite("Parameters and decoded values")
    struct Values {
        /// 2026-03-04 05:06:07.089 UTC.
        static let instantMilliseconds: Int64 = 1_772_600_767_089

        /// Strings that exercise both escapings: TabSeparated at the top level, quoted literals in arrays.
        static let awkwardStrings: [String] = [
            "",
            "tab\there",
            "line one\nline two",
            "carriage\rreturn",
            "it's 'quoted'",
            "back\\slash \\n not a newline \\",
            "\"double\" quotes",
            "emoji 😀🎉👩‍💻",
            "CJK 漢字 かな 한글",
            "all \t'\\\"\n😀 漢 at once",
            "{braces} [brackets] (parens), commas; = & % +",
            "nul\u{0}byte",
        ]

        @Test("scalars, arrays and nulls round-trip through {name:Type} placeholders")
        func scalarRoundTrip() async throws {
            let sql = """
                SELECT
                    {t:DateTime64(3, 'UTC')} AS t,
                    {max:UInt64} AS max,
                    {above53:UInt64} AS above53,
                    {tenth:Float64} AS tenth,
                    {huge:Float64} AS huge,
                    {floats:Array(Float64)} AS floats,
                    {noString:Nullable(String)} AS no_string,
                    {someString:Nullable(String)} AS some_string,
                    {noNumber:Nullable(UInt32)} AS no_number,
                    {someNumber:Nullable(UInt32)} AS some_number,
                    {negative:Int64} AS negative,
                    {flag:Bool} AS flag
                """
            let parameters: [(name: String, value: QueryParameter)] = [
                ("t", .timestamp(unixNanoseconds: Self.instantMilliseconds * 1_000_000)),
                ("max", .uint(18_446_744_073_709_551_615)),
                ("above53", .uint(9_007_199_254_740_993)),
                ("tenth", .double(0.1)),
                ("huge", .double(-1.5e300)),
                ("floats", .array([.double(0.1), .double(-1.5e300), .double(2.5), .double(0)])),
                ("noString", .null),
                ("someString", .string("present")),
                ("noNumber", .null),
                ("someNumber", .uint(4_294_967_295)),
                ("negative", .int(-9_223_372_036_854_775_807)),
                ("flag", .bool(true)),
            ]
            let result = await onThread {
                let client = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())
                let stream = try client.query(sql, parameters: parameters)
                return (stream.columns, try readAll(stream))
            }
            let (columns, rows) = try result.get()

            #expect(columns.map(\.name) == [
                "t", "max", "above53", "tenth", "huge", "floats", "no_string", "some_string", "no_number",
                "some_number", "negative", "flag",
            ])
            #expect(columns.map(\.type) == [
                .dateTime64(precision: 3, timezone: "UTC"), .uint64, .uint64, .float64, .float64, .array(.float64),
                .nullable(.string), .nullable(.string), .nullable(.uint32), .nullable(.uint32), .int64, .bool,
            ])
            let row = try #require(rows.count == 1 ? rows[0] : nil)
            #expect(row[0] == .dateTime64(ticks: Self.instantMilliseconds, precision: 3))
            #expect(row[0].unixNanoseconds == 1_772_600_767_089_000_000)
            #expect(row[1] == .uint(18_446_744_073_709_551_615))
            #expect(row[2] == .uint(9_007_199_254_740_993))
            #expect(row[3] == .float(0.1))
            #expect(row[4] == .float(-1.5e300))
            #expect(row[5] == .array([.float(0.1), .float(-1.5e300), .float(2.5), .float(0)]))
            #expect(row[6] == .null)
            #expect(row[7] == .string("present"))
            #expect(row[8] == .null)
            #expect(row[9] == .uint(4_294_967_295))
            #expect(row[10] == .int(-9_223_372_036_854_775_807))
            #expect(row[11] == .bool(true))
        }

        @Test("a DateTime64 parameter is rounded to the placeholder's precision, before and after 1970")
        func timestampPrecision() async throws {
            let result = await onThread {
                let client = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())
                let stream = try client.query(
                    "SELECT {a:DateTime64(3, 'UTC')}, {b:DateTime64(6, 'UTC')}, {c:DateTime64(3, 'UTC')}",
                    parameters: [
                        ("a", .timestamp(unixNanoseconds: 1_772_600_767_089_000_000)),
                        ("b", .timestamp(unixNanoseconds: 1_772_600_767_089_123_000)),
                        ("c", .timestamp(unixNanoseconds: -1_500_000_000)),  // 1969-12-31 23:59:58.500
                    ])
                return try readAll(stream)
            }
            let rows = try result.get()
            #expect(rows == [[
                .dateTime64(ticks: 1_772_600_767_089, precision: 3),
                .dateTime64(ticks: 1_772_600_767_089_123, precision: 6),
                .dateTime64(ticks: -1_500, precision: 3),
            ]])
            #expect(rows.first?[2].unixNanoseconds == -1_500_000_000)
        }

        @Test("a String parameter arrives byte for byte", arguments: Self.awkwardStrings)
        func topLevelString(_ text: String) async throws {
            let result = await onThread {
                let client = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())
                return try readAll(client.query(
                    "SELECT {s:String}, length({s:String}), {n:Nullable(String)}",
                    parameters: [("s", .string(text)), ("n", .string(text))]))
            }
            let rows = try result.get()
            #expect(rows == [[.string(text), .uint(UInt64(text.utf8.count)), .string(text)]])
        }

        @Test("strings inside Array(String) and Tuple arrive byte for byte")
        func stringsInArrays() async throws {
            let strings = Self.awkwardStrings
            let result = await onThread {
                let client = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())
                return try readAll(client.query(
                    "SELECT {a:Array(String)}, length({a:Array(String)}), {t:Tuple(String, UInt8)}, {e:Array(String)}",
                    parameters: [
                        ("a", .array(strings.map { .string($0) })),
                        ("t", .tuple([.string("a'b\\c\td"), .uint(7)])),
                        ("e", .array([])),
                    ]))
            }
            let rows = try result.get()
            #expect(rows == [[
                .array(strings.map { .string($0) }), .uint(UInt64(strings.count)),
                .tuple([.string("a'b\\c\td"), .uint(7)]), .array([]),
            ]])
        }

        @Test("rows of the gateway table's column types, inserted as JSONEachRow, read back with a filter")
        func gatewayTable() async throws {
            let database = "it_client_" + uniqueSuffix()
            let result = await onThread { () throws -> ([ClickHouseRowStream.Column], [[ClickHouseValue]]) in
                let admin = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())
                try admin.execute("CREATE DATABASE \(database)")
                defer { _ = try? admin.execute("DROP DATABASE IF EXISTS \(database)") }
                try admin.execute("""
                    CREATE TABLE \(database).generations (
                        id UUID,
                        created_at DateTime64(3, 'UTC'),
                        workspace_slug LowCardinality(String),
                        ai_org LowCardinality(String),
                        ai_model LowCardinality(String),
                        req_units UInt32,
                        res_units UInt32,
                        cost Float64,
                        response_status_code UInt16,
                        is_success UInt8,
                        cache_status LowCardinality(String)
                    ) ENGINE = MergeTree ORDER BY created_at
                    """)
                let rows = """
                    {"id":"2f1c7a3e-9b4d-4e8a-a1b2-c3d4e5f60718","created_at":"2026-03-04 05:06:07.089","workspace_slug":"prod","ai_org":"openai","ai_model":"gpt-4o","req_units":1200,"res_units":345,"cost":0.61625,"response_status_code":200,"is_success":1,"cache_status":"MISS"}
                    {"id":"00000000-0000-0000-0000-000000000001","created_at":"2026-03-04 05:06:08.000","workspace_slug":"prod","ai_org":"anthropic","ai_model":"claude-sonnet-4","req_units":4294967295,"res_units":0,"cost":0,"response_status_code":503,"is_success":0,"cache_status":"SEMANTIC HIT"}
                    {"id":"ffffffff-ffff-4fff-bfff-ffffffffffff","created_at":"2026-03-04 05:06:09.999","workspace_slug":"staging \\t 漢字 'q'","ai_org":"openai","ai_model":"gpt-4o-mini","req_units":7,"res_units":65535,"cost":1e-9,"response_status_code":429,"is_success":0,"cache_status":"DISABLED"}
                    {"id":"11111111-2222-3333-4444-555555555555","created_at":"2026-03-04 06:00:00.000","workspace_slug":"prod","ai_org":"openai","ai_model":"gpt-4o","req_units":1,"res_units":1,"cost":1,"response_status_code":200,"is_success":1,"cache_status":"HIT"}
                    """
                try admin.execute("INSERT INTO \(database).generations FORMAT JSONEachRow", data: Array(rows.utf8))

                // A second client that names the database in its configuration, as the bridge does.
                let client = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration(database: database))
                let stream = try client.query("""
                    SELECT id, created_at, workspace_slug, ai_org, ai_model, req_units, res_units, cost,
                           response_status_code, is_success, cache_status
                    FROM generations
                    WHERE created_at >= {from:DateTime64(3, 'UTC')} AND created_at < {to:DateTime64(3, 'UTC')}
                      AND ai_org IN {orgs:Array(String)}
                    ORDER BY created_at
                    """,
                    parameters: [
                        ("from", .timestamp(unixNanoseconds: 1_772_600_767_000_000_000)),
                        ("to", .timestamp(unixNanoseconds: 1_772_600_770_000_000_000)),
                        ("orgs", .array([.string("openai"), .string("anthropic")])),
                    ])
                return (stream.columns, try readAll(stream))
            }
            let (columns, rows) = try result.get()
            #expect(columns.map(\.typeName) == [
                "UUID", "DateTime64(3, 'UTC')", "LowCardinality(String)", "LowCardinality(String)",
                "LowCardinality(String)", "UInt32", "UInt32", "Float64", "UInt16", "UInt8", "LowCardinality(String)",
            ])
            #expect(columns.map(\.type) == [
                .uuid, .dateTime64(precision: 3, timezone: "UTC"), .string, .string, .string, .uint32, .uint32,
                .float64, .uint16, .uint8, .string,
            ])
            #expect(rows.count == 3)
            #expect(rows == [
                [.string("2f1c7a3e-9b4d-4e8a-a1b2-c3d4e5f60718"), .dateTime64(ticks: 1_772_600_767_089, precision: 3),
                 .string("prod"), .string("openai"), .string("gpt-4o"), .uint(1200), .uint(345), .float(0.61625),
                 .uint(200), .uint(1), .string("MISS")],
                [.string("00000000-0000-0000-0000-000000000001"), .dateTime64(ticks: 1_772_600_768_000, precision: 3),
                 .string("prod"), .string("anthropic"), .string("claude-sonnet-4"), .uint(4_294_967_295), .uint(0),
                 .float(0), .uint(503), .uint(0), .string("SEMANTIC HIT")],
                [.string("ffffffff-ffff-4fff-bfff-ffffffffffff"), .dateTime64(ticks: 1_772_600_769_999, precision: 3),
                 .string("staging \t 漢字 'q'"), .string("openai"), .string("gpt-4o-mini"), .uint(7), .uint(65535),
                 .float(1e-9), .uint(429), .uint(0), .string("DISABLED")],
            ])
        }
    }
}

// MARK: - Streaming

extension ClickHouseIntegrationTests {
    @Suite("Large results")
    struct Streaming {
        /// (compression, encodings offered): every encoding libcurl decodes, gzip alone, zstd alone, none.
        static let encodings: [(Bool, String)] = [(true, ""), (true, "gzip"), (true, "zstd"), (false, "")]

        @Test("300 000 rows stream through, every one decoded, none lost, in every encoding", arguments: Self.encodings)
        func largeResult(compression: Bool, offered: String) async throws {
            let count: UInt64 = 300_000
            let result = await onThread { () throws -> (rows: UInt64, sum: UInt64, mismatches: Int, rowsRead: Int, bytesRead: Int) in
                var configuration = ClientScope.clickHouseConfiguration()
                configuration.compression = compression
                configuration.acceptEncoding = offered
                let client = ClickHouseClient(configuration: configuration)
                let stream = try client.query("SELECT number, toString(number) FROM numbers({n:UInt64})",
                                              parameters: [("n", .uint(count))])
                var row: [ClickHouseValue] = []
                var rows: UInt64 = 0, sum: UInt64 = 0, mismatches = 0
                while try stream.next(into: &row) {
                    guard case .uint(let n) = row[0], case .string(let s) = row[1], n == rows, s == String(n) else {
                        mismatches += 1
                        rows += 1
                        continue
                    }
                    sum += n
                    rows += 1
                }
                // The stream stays at its end.
                let again = try stream.next(into: &row)
                return (rows, sum, mismatches + (again ? 1 : 0), stream.rowsRead, stream.bytesRead)
            }
            let outcome = try result.get()
            #expect(outcome.rows == count)
            #expect(outcome.mismatches == 0)
            #expect(outcome.sum == count * (count - 1) / 2)
            #expect(outcome.rowsRead == Int(count))
            // RowBinaryWithNamesAndTypes: header, then per row 8 bytes of UInt64 + 1 length byte + the digits.
            let header = 1 + (1 + 6) + (1 + 16) + (1 + 6) + (1 + 6)
            let body = (0..<count).reduce(0) { $0 + 9 + String($1).utf8.count }
            #expect(outcome.bytesRead == header + body)
        }

        /// ClickHouse picks the response's encoding by its own order (zstd first) among those the
        /// client offers; libcurl hands the body on decoded, byte for byte the uncompressed one.
        @Test("the result comes in the encoding the server prefers of those offered, decoded to the same bytes", arguments: [
            ("", "zstd"), ("deflate, gzip", "gzip"), ("gzip", "gzip"), ("zstd", "zstd"), ("deflate", "deflate"),
        ])
        func negotiatedEncoding(offered: String, expected: String) async throws {
            let result = await onThread { () throws -> (encoding: String?, body: [UInt8], plain: [UInt8]) in
                func fetch(_ compressed: Bool, _ offered: String) throws -> HTTPResponse {
                    let url = Services.clickHouseURL + "/?" + URLEncoding.query([
                        ("database", ClientScope.database), ("enable_http_compression", compressed ? "1" : "0")])
                    return try HTTPClient().perform(HTTPRequest(
                        url: url, headers: [("X-ClickHouse-User", Services.clickHouseUser), ("X-ClickHouse-Key", Services.clickHousePassword)],
                        body: Array("SELECT number, toString(number) FROM numbers(100000)".utf8), acceptEncoding: offered))
                }
                let compressed = try fetch(true, offered), plain = try fetch(false, "")
                return (compressed.head.header("Content-Encoding"), compressed.body, plain.body)
            }
            let outcome = try result.get()
            #expect(outcome.encoding == expected)
            #expect(outcome.body.count > 100_000 && outcome.body == outcome.plain)
        }

        @Test("closing a stream early leaves the client ready for the next query")
        func closeEarly() async throws {
            let result = await onThread { () throws -> ([[ClickHouseValue]], Bool, [[ClickHouseValue]]) in
                let client = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())
                let big = try client.query("SELECT number FROM numbers(1000000)")
                var row: [ClickHouseValue] = []
                var first: [[ClickHouseValue]] = []
                while first.count < 3, try big.next(into: &row) { first.append(row) }
                big.close()
                let afterClose = try big.next(into: &row)
                let next = try readAll(client.query("SELECT 42, 'after'"))
                return (first, afterClose, next)
            }
            let (first, afterClose, next) = try result.get()
            #expect(first == [[.uint(0)], [.uint(1)], [.uint(2)]])
            #expect(afterClose == false)
            #expect(next == [[.uint(42), .string("after")]])
        }
    }
}

// MARK: - Server errors

extension ClickHouseIntegrationTests {
    @Suite("Errors the server reports")
    struct ServerErrors {
        func failingQuery(_ sql: String, queryID: String) async throws -> ClickHouseError {
            let result = await onThread {
                let client = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())
                return try readAll(client.query(sql, queryID: queryID)).count
            }
            return try #require(result.failure as? ClickHouseError, "expected a ClickHouseError, got \(result)")
        }

        @Test("an unknown table is .server with code 60, UNKNOWN_TABLE, HTTP 404")
        func unknownTable() async throws {
            let table = "no_such_table_" + uniqueSuffix()
            let queryID = "it-" + uniqueSuffix()
            let error = try await failingQuery("SELECT * FROM \(table)", queryID: queryID)
            #expect(error.code == .server)
            #expect(error.serverCode == 60)
            #expect(error.serverName == "UNKNOWN_TABLE")
            #expect(error.httpStatus == 404)
            #expect(error.message.contains(table))
            #expect(!error.message.contains("DB::Exception"))
            #expect(!error.message.contains("(version"))
            #expect(error.queryID == queryID)
            #expect(error.isTransient == false)
            #expect(error.description.contains("code 60, UNKNOWN_TABLE"))
            #expect(error.description.contains(table))
        }

        @Test("a syntax error is .server with code 62, SYNTAX_ERROR, HTTP 400")
        func syntaxError() async throws {
            // Starts with SELECT: the test endpoint checks `readonly` by the first keyword before parsing.
            let error = try await failingQuery("SELECT 1 +", queryID: "it-" + uniqueSuffix())
            #expect(error.code == .server)
            #expect(error.serverCode == 62)
            #expect(error.serverName == "SYNTAX_ERROR")
            #expect(error.httpStatus == 400)
            #expect(error.message.hasPrefix("Syntax error"))
            #expect(error.isTransient == false)
        }

        @Test("an unknown function is .server with code 46, UNKNOWN_FUNCTION, HTTP 404")
        func unknownFunction() async throws {
            let function = "noSuchFunction" + uniqueSuffix()
            let error = try await failingQuery("SELECT \(function)(1)", queryID: "it-" + uniqueSuffix())
            #expect(error.code == .server)
            #expect(error.serverCode == 46)
            #expect(error.serverName == "UNKNOWN_FUNCTION")
            #expect(error.httpStatus == 404)
            #expect(error.message.contains(function))
        }

        @Test("a parameter that does not parse as its type is .server BAD_QUERY_PARAMETER, not a wrong value",
              arguments: [("UInt8", QueryParameter.string("abc")), ("UInt32", .int(-1)), ("Float64", .string("1.5x"))])
        func badParameter(type: String, value: QueryParameter) async throws {
            let result = await onThread {
                let client = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())
                return try readAll(client.query("SELECT {n:\(type)}", parameters: [("n", value)]))
            }
            let error = try #require(result.failure as? ClickHouseError, "expected an error, got \(result)")
            #expect(error.code == .server)
            #expect(error.serverCode == 457)
            #expect(error.serverName == "BAD_QUERY_PARAMETER")
            #expect(error.message.contains("query parameter 'n'"))
            #expect(error.httpStatus.map { $0 >= 400 } == true)
        }

        @Test("a query with a FORMAT clause is refused as .unexpectedResponse")
        func formatClause() async throws {
            let result = await onThread {
                let client = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())
                return try readAll(client.query("SELECT 1 FORMAT TabSeparated")).count
            }
            let error = try #require(result.failure as? ClickHouseError)
            #expect(error.code == .unexpectedResponse)
            #expect(error.message.contains("TabSeparated"))
        }

        @Test("a query may be sent to a read-only client only as a SELECT: an INSERT through query() is refused")
        func readOnly() async throws {
            let result = await onThread {
                let client = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())
                return try readAll(client.query("CREATE DATABASE it_never_\(uniqueSuffix())")).count
            }
            let error = try #require(result.failure as? ClickHouseError)
            #expect(error.code == .server)
            #expect(error.serverCode == 164)
            #expect(error.serverName == "READONLY")
        }

        @Test("query ids are unique across the clients of one process")
        func queryIDs() async throws {
            let result = await onThread { () throws -> [String] in
                var ids: [String] = []
                for _ in 0..<2 {
                    let client = ClickHouseClient(configuration: ClientScope.clickHouseConfiguration())
                    for _ in 0..<2 {
                        let stream = try client.query("SELECT 1")
                        _ = try readAll(stream)
                        ids.append(stream.queryID)
                    }
                }
                return ids
            }
            let ids = try result.get()
            #expect(ids.count == 4)
            #expect(Set(ids).count == ids.count, "query ids repeat: \(ids)")
        }

        @Test("ping answers Ok.")
        func ping() async throws {
            let result = await onThread {
                try ClickHouseClient(configuration: ClientScope.clickHouseConfiguration()).ping()
            }
            try result.get()
        }
    }
}

// MARK: - Authentication

extension ClickHouseIntegrationTests {
    @Suite("Authentication")
    struct Authentication {
        @Test("the password user reads with its password")
        func rightPassword() async throws {
            let result = await onThread {
                var configuration = ClientScope.clickHouseConfiguration()
                configuration.user = Services.clickHouseUser
                configuration.password = Services.clickHousePassword
                return try readAll(ClickHouseClient(configuration: configuration).query("SELECT currentDatabase(), 1"))
            }
            #expect(try result.get() == [[.string(ClientScope.database), .uint(1)]])
        }

        @Test("a wrong password is .authentication with code 516 and HTTP 403, and no error text shows it")
        func wrongPassword() async throws {
            let password = "wrong-" + uniqueSuffix() + "-s3cr3t"
            let result = await onThread {
                var configuration = ClientScope.clickHouseConfiguration()
                configuration.user = Services.clickHouseUser
                configuration.password = password
                return try readAll(ClickHouseClient(configuration: configuration).query("SELECT 1")).count
            }
            let error = try #require(result.failure as? ClickHouseError)
            #expect(error.code == .authentication)
            #expect(error.serverCode == 516)
            #expect(error.serverName == "AUTHENTICATION_FAILED")
            #expect(error.httpStatus == 403)
            #expect(error.isTransient == false)
            #expect(error.message.contains(Services.clickHouseUser))
            #expect(!error.description.contains(password))
            #expect(!error.debugDescription.contains(password))
            #expect(!String(describing: error).contains(password))
            #expect(!String(reflecting: error).contains(password))
        }

        @Test("the right password of another user does not leak either")
        func wrongUser() async throws {
            let result = await onThread {
                var configuration = ClientScope.clickHouseConfiguration()
                configuration.user = "nobody_" + uniqueSuffix()
                configuration.password = Services.clickHousePassword
                return try readAll(ClickHouseClient(configuration: configuration).query("SELECT 1")).count
            }
            let error = try #require(result.failure as? ClickHouseError)
            #expect(error.code == .authentication)
            #expect(error.serverCode == 516)
            #expect(!error.description.contains(Services.clickHousePassword))
            #expect(!error.debugDescription.contains(Services.clickHousePassword))
        }
    }
}

// MARK: - Transport

extension ClickHouseIntegrationTests {
    @Suite("Transport failures")
    struct Transport {
        @Test("a server that is down is a transient .transport error, for queries and for ping")
        func serverDown() async throws {
            let url = Services.closedPortURL()
            let result = await onThread { () throws -> Int in
                let configuration = ClickHouseConfiguration(url: url, password: "pw-not-shown", connectTimeout: .seconds(2))
                return try readAll(ClickHouseClient(configuration: configuration).query("SELECT 1")).count
            }
            let error = try #require(result.failure as? ClickHouseError)
            #expect(error.code == .transport)
            #expect(error.isTransient)
            #expect(error.transportError?.code == .connectionFailed)
            #expect(error.serverCode == nil)
            #expect(error.httpStatus == nil)
            #expect(error.endpoint == url + "/")
            #expect(!error.description.contains("pw-not-shown"))
            #expect(!error.debugDescription.contains("pw-not-shown"))

            let ping = await onThread {
                try ClickHouseClient(configuration: ClickHouseConfiguration(url: url, connectTimeout: .seconds(2))).ping()
            }
            let pingError = try #require(ping.failure as? ClickHouseError)
            #expect(pingError.code == .transport)
            #expect(pingError.isTransient)
            #expect(pingError.transportError?.code == .connectionFailed)
        }
    }
}

// MARK: - Faults injected into the endpoint

extension ClickHouseIntegrationTests {
    @Suite("Injected faults")
    struct Faults {
        /// RowBinaryWithNamesAndTypes header of `SELECT number, toString(number)`.
        static let headerBytes = 1 + (1 + 6) + (1 + 16) + (1 + 6) + (1 + 6)

        /// Complete rows of `SELECT number, toString(number) FROM numbers(…)` within the first `bytes` of the body.
        static func completeRows(within bytes: Int) -> Int {
            var used = headerBytes, rows = 0
            while true {
                let size = 9 + String(rows).utf8.count
                if used + size > bytes { return rows }
                used += size
                rows += 1
            }
        }

        struct Outcome: Sendable {
            var rows: [[ClickHouseValue]]
            var error: (any Error)?
        }

        /// Runs `SELECT number, toString(number) FROM numbers(n)` and keeps the rows delivered before
        /// any failure.
        static func readNumbers(_ n: Int, compression: Bool) async -> Outcome {
            let result = await onThread { () -> Outcome in
                var configuration = ClientScope.clickHouseConfiguration()
                configuration.compression = compression
                let client = ClickHouseClient(configuration: configuration)
                var rows: [[ClickHouseValue]] = []
                do {
                    let stream = try client.query("SELECT number, toString(number) FROM numbers(\(n))")
                    var row: [ClickHouseValue] = []
                    while try stream.next(into: &row) { rows.append(row) }
                    return Outcome(rows: rows, error: nil)
                } catch {
                    return Outcome(rows: rows, error: error)
                }
            }
            return try! result.get()
        }

        /// The first few delivered rows that are not the genuine row of the result at their position.
        static func bogus(_ rows: [[ClickHouseValue]]) -> [String] {
            Array(rows.enumerated().lazy
                .filter { index, row in row != [.uint(UInt64(index)), .string(String(index))] }
                .prefix(3)
                .map { index, row in "row \(index): \(row)" })
        }

        @Test("a tagged exception after several rows fails the stream with .midStream; no row after it is delivered",
              arguments: [false, true])
        func taggedMidStream(compression: Bool) async throws {
            defer { ClientScope.resetClickHouseFaults() }
            // Past the client's 256 KiB read-ahead (HTTPClient.streamHighWater + one curl buffer), so that
            // rows are certainly delivered before the exception arrives; then the middle of a row.
            let afterBytes = 1_000_005
            let message = "Value passed to 'throwIf' function is non-zero: injected \(uniqueSuffix())"
            try ClientScope.setClickHouseFaults(["mid_stream_exception": [
                "after_bytes": afterBytes, "style": "tagged", "code": 395, "message": message, "count": 1,
            ]])
            let outcome = await Self.readNumbers(200_000, compression: compression)
            let rowCount = outcome.rows.count

            let error = try #require(outcome.error as? ClickHouseError, "expected a ClickHouseError, got \(String(describing: outcome.error))")
            #expect(error.code == .midStream)
            #expect(error.serverCode == 395)
            #expect(error.serverName == "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO")
            #expect(error.message == message)
            #expect(error.httpStatus == 200)
            #expect(error.isTransient == false)
            #expect(rowCount > 0, "rows before the exception should have been delivered")
            #expect(rowCount <= Self.completeRows(within: afterBytes))
            let bogus = Self.bogus(outcome.rows)
            #expect(bogus.isEmpty, "a delivered row is not a row of the result: \(bogus)")
        }

        @Test("a legacy (untagged) exception after several rows fails the stream; it is never a short or garbled result",
              arguments: [false, true])
        func legacyMidStream(compression: Bool) async throws {
            defer { ClientScope.resetClickHouseFaults() }
            let afterBytes = 1_000_005
            let message = "Memory limit exceeded: injected \(uniqueSuffix())"
            try ClientScope.setClickHouseFaults(["mid_stream_exception": [
                "after_bytes": afterBytes, "style": "legacy", "code": 241, "message": message, "count": 1,
            ]])
            let outcome = await Self.readNumbers(200_000, compression: compression)
            let rowCount = outcome.rows.count

            let error = try #require(outcome.error as? ClickHouseError, "expected a ClickHouseError, got \(String(describing: outcome.error))")
            #expect(error.code == .midStream || error.code == .transport, "got \(error.debugDescription)")
            if error.code == .midStream {
                #expect(error.serverCode == 241)
                #expect(error.serverName == "MEMORY_LIMIT_EXCEEDED")
                #expect(error.message == message)
            }
            #expect(rowCount > 0)
            #expect(rowCount <= Self.completeRows(within: afterBytes))
            let bogus = Self.bogus(outcome.rows)
            #expect(bogus.isEmpty, "a delivered row was decoded from the exception text: \(bogus)")
        }

        @Test("a legacy exception right on a row boundary is not decoded as rows",
              arguments: [false, true])
        func legacyOnRowBoundary(compression: Bool) async throws {
            defer { ClientScope.resetClickHouseFaults() }
            // After 10 complete rows (0…9, 10 bytes each): the exception text starts where row 10 would.
            let afterBytes = Self.headerBytes + 10 * 10
            try ClientScope.setClickHouseFaults(["mid_stream_exception": [
                "after_bytes": afterBytes, "style": "legacy", "code": 395,
                "message": "Value passed to 'throwIf' function is non-zero", "count": 1,
            ]])
            let outcome = await Self.readNumbers(1000, compression: compression)
            let rowCount = outcome.rows.count

            let error = try #require(outcome.error as? ClickHouseError, "expected a ClickHouseError, got \(String(describing: outcome.error)); rows: \(rowCount)")
            #expect(error.code == .midStream || error.code == .transport, "got \(error.debugDescription)")
            #expect(rowCount <= 10)
            let bogus = Self.bogus(outcome.rows)
            #expect(bogus.isEmpty, "a delivered row was decoded from the exception text: \(bogus)")
        }

        @Test("a tagged exception block whose tag header was dropped (by a proxy) still fails the stream")
        func taggedBlockWithoutHeader() async throws {
            defer { ClientScope.resetClickHouseFaults() }
            let afterBytes = 1_000_005
            try ClientScope.setClickHouseFaults([
                "exception_tag_header": false,
                "mid_stream_exception": ["after_bytes": afterBytes, "style": "tagged", "code": 159,
                                         "message": "Timeout exceeded: elapsed 1 seconds", "count": 1],
            ])
            let outcome = await Self.readNumbers(200_000, compression: true)
            let rowCount = outcome.rows.count
            let error = try #require(outcome.error as? ClickHouseError, "expected a failure, got \(rowCount) rows and no error")
            #expect(error.code == .midStream || error.code == .transport || error.code == .decoding, "got \(error.debugDescription)")
            #expect(rowCount > 0)
            #expect(rowCount <= Self.completeRows(within: afterBytes))
            let bogus = Self.bogus(outcome.rows)
            #expect(bogus.isEmpty, "a delivered row was decoded from the exception block: \(bogus)")
        }

        @Test("a 503 with TOO_MANY_SIMULTANEOUS_QUERIES before the result is a transient .server error")
        func failStatus() async throws {
            defer { ClientScope.resetClickHouseFaults() }
            try ClientScope.setClickHouseFaults(["fail_status": [
                "status": 503, "code": 202, "message": "Too many simultaneous queries. Maximum: 100", "count": 1,
            ]])
            let outcome = await Self.readNumbers(10, compression: true)
            let error = try #require(outcome.error as? ClickHouseError)
            #expect(error.code == .server)
            #expect(error.serverCode == 202)
            #expect(error.serverName == "TOO_MANY_SIMULTANEOUS_QUERIES")
            #expect(error.httpStatus == 503)
            #expect(error.message == "Too many simultaneous queries. Maximum: 100")
            #expect(error.isTransient)
            #expect(outcome.rows.isEmpty)

            // The fault was for one query only.
            let next = await Self.readNumbers(3, compression: true)
            #expect(next.error == nil)
            #expect(next.rows == [[.uint(0), .string("0")], [.uint(1), .string("1")], [.uint(2), .string("2")]])
        }

        /// The client abandons a transfer that receives nothing for `maxExecutionTime` + 10 s
        /// (ClickHouseClient.makeRequest), so a server that answers nothing for 33 s times out after ~11 s.
        @Test("a server that does not answer within the request timeout is a transient timeout",
              .timeLimit(.minutes(10)))
        func timeout() async throws {
            defer { ClientScope.resetClickHouseFaults() }
            try ClientScope.setClickHouseFaults(["delay_seconds": 33])
            let started = ContinuousClock.now
            let result = await onThread {
                var configuration = ClientScope.clickHouseConfiguration()
                configuration.maxExecutionTime = .milliseconds(200)
                configuration.connectTimeout = .seconds(2)
                return try readAll(ClickHouseClient(configuration: configuration).query("SELECT 1")).count
            }
            let elapsed = ContinuousClock.now - started
            ClientScope.resetClickHouseFaults()
            let error = try #require(result.failure as? ClickHouseError, "expected a timeout, got \(result)")
            #expect(error.code == .transport)
            #expect(error.transportError?.code == .timeout)
            #expect(error.isTransient)
            #expect(elapsed < .seconds(33), "the client waited for the server instead of timing out")
        }
    }
}
