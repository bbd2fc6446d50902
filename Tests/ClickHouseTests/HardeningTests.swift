import CurlHTTP
import Environment
import Testing
@testable import ClickHouse

// MARK: - RowBinaryWithNamesAndTypes bytes for tests

func leb128(_ value: UInt64) -> [UInt8] {
    var v = value
    var out: [UInt8] = []
    repeat {
        var byte = UInt8(v & 0x7F)
        v >>= 7
        if v != 0 { byte |= 0x80 }
        out.append(byte)
    } while v != 0
    return out
}

func rbString(_ s: String) -> [UInt8] { leb128(UInt64(s.utf8.count)) + Array(s.utf8) }

/// A header with one column `c` of `type`.
func header(_ type: String) -> [UInt8] { leb128(1) + rbString("c") + rbString(type) }

/// Decodes header and first row of `bytes` fed at once; the decoding error, if any.
func decodeError(_ bytes: [UInt8], limits: RowBinaryDecoder.Limits = .init()) -> ClickHouseError? {
    var decoder = RowBinaryDecoder(limits: limits)
    decoder.feed(bytes)
    do {
        guard try decoder.decodeHeader() else { return nil }
        var row: [ClickHouseValue] = []
        _ = try decoder.decodeRow(into: &row, rowNumber: 1)
        return nil
    } catch {
        return error
    }
}

@Suite("Hostile RowBinary is a decoding error, never a trap, a hang or a giant allocation")
struct RowBinaryHardeningTests {
    @Test("absurd or unknown type names in the header", arguments: [
        "FixedString(-1)", "FixedString(0)", "FixedString(99999999999)", "FixedString(16777217)",
        "FixedString(99999999999999999999999)", "Decimal(76, 80)", "Decimal(0, 0)", "Decimal(200, 2)",
        "Decimal32(10)", "Decimal64(19)", "Decimal128(39)", "Decimal256(2)", "Decimal128(-1)",
        "Frobnicate(1)", "DateTime64(12)", "Enum8('a' = 99999999999999999999)", "Array(", "",
        String(repeating: "Array(", count: 5000) + "UInt8" + String(repeating: ")", count: 5000),
        "\u{1B}[2J\nforged",
    ])
    func badTypes(type: String) {
        let error = decodeError(header(type) + [0])
        #expect(error?.code == .decoding)
        #expect(!(error?.description.contains("\n") ?? true))
    }

    @Test("Decimal128 with scale 20+ decodes, and its Double does not overflow")
    func decimalScale() throws {
        var decoder = RowBinaryDecoder()
        decoder.feed(header("Decimal128(20)") + [0x39, 0x30] + [UInt8](repeating: 0, count: 14))
        #expect(try decoder.decodeHeader())
        var row: [ClickHouseValue] = []
        #expect(try decoder.decodeRow(into: &row, rowNumber: 1))
        #expect(row == [.decimal(units: 12345, scale: 20)])
        let value = try #require(row[0].double)
        #expect(abs(value - 1.2345e-16) < 1e-25)
        #expect(ClickHouseValue.decimal(units: 1, scale: 38).double == 1e-38)
        #expect(ClickHouseValue.decimal(units: 1, scale: Int.max).double == 0)
    }

    @Test("a 2 GiB or 2^64 string length fails at once instead of waiting for the bytes")
    func hugeStringLength() {
        for length: UInt64 in [1 << 31, UInt64.max, (4 << 20) + 1] {
            let error = decodeError(header("String") + leb128(length) + Array("abc".utf8))
            #expect(error?.code == .decoding, "length \(length)")
        }
        // A header string (column name) of absurd length too.
        #expect(decodeError(leb128(1) + leb128(UInt64(Int32.max) * 2) + [0x41])?.code == .decoding)
    }

    @Test("unchecked element counts fail: arrays, maps, nested arrays of nothing", arguments: [
        ("Array(UInt64)", leb128(1 << 40)),
        ("Array(UInt64)", leb128(UInt64.max)),
        ("Map(String, UInt64)", leb128(1 << 40)),
        ("Array(Nothing)", leb128((1 << 20) + 1)),
        ("Array(Array(Nothing))", leb128(1 << 19) + leb128(1 << 20)),
        ("Array(Nullable(Nothing))", leb128(17 << 20)),
    ] as [(String, [UInt8])])
    func counts(type: String, row: [UInt8]) {
        #expect(decodeError(header(type) + row)?.code == .decoding)
    }

    @Test("nested arrays of Nothing cannot multiply into a hang: the per-row value budget holds")
    func nestedNothing() {
        // 1000 outer elements, each an inner array claiming 1000 Nothings: 10^6 values > the 10^5 budget.
        let inner = leb128(1000)
        let row = leb128(1000) + (0..<1000).flatMap { _ in inner }
        #expect(decodeError(header("Array(Array(Nothing))") + row, limits: .init(maxValuesPerRow: 100_000))?.code == .decoding)
    }

    @Test("a row larger than the row budget fails instead of buffering more")
    func rowBudget() throws {
        let limits = RowBinaryDecoder.Limits(maxRowBytes: 1024, maxValueBytes: 512)
        // Three strings of 400 bytes: each fits the value limit, the row does not.
        let value = rbString(String(repeating: "x", count: 400))
        var decoder = RowBinaryDecoder(limits: limits)
        decoder.feed(leb128(3) + rbString("a") + rbString("b") + rbString("c") + rbString("String") + rbString("String") + rbString("String"))
        #expect(try decoder.decodeHeader())
        decoder.feed(value + value)  // incomplete so far, within budget: more bytes are needed
        var row: [ClickHouseValue] = []
        #expect(try decoder.decodeRow(into: &row, rowNumber: 1) == false)
        decoder.feed(value)
        #expect(throws: ClickHouseError.self) { _ = try decoder.decodeRow(into: &row, rowNumber: 1) }
        // The default budget holds a normal row.
        #expect(decodeError(header("String") + value) == nil)
    }

    @Test("a column count of zero or beyond the limit fails")
    func columnCount() {
        #expect(decodeError(leb128(0) + [0])?.code == .decoding)
        #expect(decodeError(leb128(10_001) + [0])?.code == .decoding)
        #expect(decodeError(leb128(UInt64.max))?.code == .decoding)
    }

    @Test("dates far from today give no nanoseconds instead of trapping")
    func dates() {
        #expect(ClickHouseValue.date(days: Int32.max).unixNanoseconds == nil)
        #expect(ClickHouseValue.date(days: Int32.min).unixNanoseconds == nil)
        #expect(ClickHouseValue.dateTime(seconds: Int64.max).unixNanoseconds == nil)
        #expect(ClickHouseValue.dateTime64(ticks: Int64.max, precision: 0).unixNanoseconds == nil)
        #expect(ClickHouseValue.dateTime64(ticks: 5_000, precision: 12).unixNanoseconds == 5)
        #expect(ClickHouseValue.dateTime64(ticks: 5, precision: 99).unixNanoseconds == nil)
        #expect(ClickHouseValue.date(days: 1).unixNanoseconds == 86_400_000_000_000)
    }
}

@Suite("ClickHouse configuration from the environment is range-checked and keeps secrets")
struct ClickHouseConfigurationHardeningTests {
    static let password = "Pa55-w0rd-S3CRET"

    @Test("timeouts outside their bounds, or not numbers, name the variable", arguments: [
        "1e20", "0.0001", "0", "-1", "NaN", "nan", "inf", "-inf", "1e400", "ten", "86401",
    ])
    func badSeconds(text: String) {
        for variable in ["CLICKHOUSE_MAX_EXECUTION_TIME", "CLICKHOUSE_CONNECT_TIMEOUT"] {
            if variable == "CLICKHOUSE_CONNECT_TIMEOUT" && text == "86401" { continue }
            #expect {
                try ClickHouseConfiguration(environment: [variable: text])
            } throws: { error in
                guard let e = error as? ClickHouseError else { return false }
                return e.code == .configuration && e.message.contains(variable)
            }
        }
        #expect(throws: ClickHouseError.self) { try ClickHouseConfiguration(environment: ["CLICKHOUSE_CONNECT_TIMEOUT": "3601"]) }
        #expect(throws: ClickHouseError.self) { try ClickHouseConfiguration(environment: ["CLICKHOUSE_MAX_EXECUTION_TIME": "0.5"]) }
    }

    @Test("values within bounds are read, sub-second ones rounded up to whole milliseconds")
    func goodSeconds() throws {
        let c = try ClickHouseConfiguration(environment: ["CLICKHOUSE_CONNECT_TIMEOUT": "0.0015", "CLICKHOUSE_MAX_EXECUTION_TIME": "86400"])
        #expect(c.connectTimeout == .milliseconds(2))
        #expect(c.maxExecutionTime == .seconds(86_400))
        #expect(try ClickHouseConfiguration(environment: ["CLICKHOUSE_CONNECT_TIMEOUT": "0.001"]).connectTimeout == .milliseconds(1))
    }

    @Test("CLICKHOUSE_COMPRESSION: a switch offering every encoding, or the one encoding it names", arguments: [
        ("true", true, ""), ("1", true, ""), ("gzip", true, "gzip"), ("GZIP", true, "gzip"), ("zstd", true, "zstd"),
        ("false", false, ""), ("none", false, ""), ("no", false, ""),
    ])
    func compression(text: String, on: Bool, offered: String) throws {
        let c = try ClickHouseConfiguration(environment: ["CLICKHOUSE_COMPRESSION": text])
        #expect(c.compression == on)
        #expect(c.acceptEncoding == offered)
        #expect(throws: ClickHouseError.self) { try ClickHouseConfiguration(environment: ["CLICKHOUSE_COMPRESSION": "br"]) }
    }

    @Test("max_execution_time sent is whole seconds within 1 … 10^9, whatever the Duration")
    func wholeSeconds() {
        #expect(ClickHouseClient.wholeSeconds(.zero) == 1)
        #expect(ClickHouseClient.wholeSeconds(.milliseconds(1500)) == 2)
        #expect(ClickHouseClient.wholeSeconds(.seconds(-5)) == 1)
        #expect(ClickHouseClient.wholeSeconds(.seconds(Int64.max)) == 1_000_000_000)
    }

    @Test("a Secret file's trailing line break is dropped from user and password")
    func trailingNewline() throws {
        let c = try ClickHouseConfiguration(environment: ["CLICKHOUSE_USER": "bridge\n", "CLICKHOUSE_PASSWORD": Self.password + "\r\n"])
        #expect(c.user == "bridge")
        #expect(c.password == Self.password)
        #expect(try ClickHouseConfiguration(environment: ["CLICKHOUSE_PASSWORD": Self.password + "\r"]).password == Self.password)
    }

    @Test("other control characters in user, password or database are errors that do not echo the value", arguments: [
        "CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD", "CLICKHOUSE_DATABASE",
    ])
    func controlCharacters(variable: String) {
        for bad in [Self.password + "\n\n", Self.password + "\r\nX-Injected: 1", Self.password + "\u{0}", "\u{1B}" + Self.password, Self.password + "\n "] {
            #expect {
                try ClickHouseConfiguration(environment: [variable: bad])
            } throws: { error in
                guard let e = error as? ClickHouseError else { return false }
                return e.code == .configuration && e.message.contains(variable)
                    && !"\(e)".contains(Self.password) && !String(reflecting: e).contains(Self.password)
            }
        }
    }

    @Test("a CLICKHOUSE_URL that does not parse is never echoed", arguments: [
        "default:\(password)@clickhouse:8123",
        "clickhouse:8123/?password=\(password)",
        "http://default:\(password)/x@clickhouse:8123 ",
        "http://default:\(password)?@clickhouse:8123/?q=\(password)@x&y=1",
    ])
    func urlNotEchoed(url: String) {
        #expect {
            try ClickHouseConfiguration(environment: ["CLICKHOUSE_URL": url])
        } throws: { error in
            guard let e = error as? ClickHouseError else { return false }
            return e.code == .configuration && !"\(e)".contains(Self.password) && !String(reflecting: e).contains(Self.password)
        }
    }

    @Test("a URL whose password holds an unencoded '/', '?' or '#' is refused up front (libcurl would cut it at query time), never echoed")
    func unencodedPassword() throws {
        for url in ["http://default:a/\(Self.password)@clickhouse:8123", "http://default:a#\(Self.password)@clickhouse:8123",
                    "http://default:a?\(Self.password)@clickhouse:8123"] {
            #expect {
                try ClickHouseConfiguration(environment: ["CLICKHOUSE_URL": url])
            } throws: { error in
                guard let e = error as? ClickHouseError else { return false }
                return e.code == .configuration && e.message.contains("percent-encode") && !"\(e)".contains(Self.password)
            }
        }
        // Encoded, the same password is fine, and shown nowhere.
        let c = try ClickHouseConfiguration(environment: ["CLICKHOUSE_URL": "http://default:a%2F\(Self.password)@clickhouse:8123"])
        #expect(HTTPError.redactedURL(c.url) == "http://clickhouse:8123")
    }

    @Test("well-formed http(s) URLs", arguments: [
        ("http://clickhouse:8123", true), ("https://u:p%40ss@ch.example:8443/path?x=1", true), ("http://[::1]:8123", true),
        ("http://ch.example", true), ("http://u:pa/ss@host:8123", false), ("http://host:port", false), ("http://host:99999", false),
        ("ftp://host", false), ("http://", false), ("http://[::1", false),
    ])
    func wellFormed(url: String, ok: Bool) {
        #expect(HTTPError.isWellFormedHTTPURL(url) == ok)
    }

    @Test("CLICKHOUSE_CA_FILE must name a readable file")
    func caFile() {
        #expect {
            try ClickHouseConfiguration(environment: ["CLICKHOUSE_CA_FILE": "/nonexistent/ca-\(UInt32.random(in: 0...UInt32.max)).pem"])
        } throws: { error in
            guard let e = error as? ClickHouseError else { return false }
            return e.code == .configuration && e.message.contains("CLICKHOUSE_CA_FILE")
        }
        #expect(throws: ClickHouseError.self) { try ClickHouseConfiguration(environment: ["CLICKHOUSE_CA_FILE": "/tmp"]) }
    }
}

@Suite("Text from outside is made safe for logs")
struct LogSafeTests {
    @Test("control characters are escaped and the length bounded")
    func escaping() {
        #expect(LogSafe.text("a\nb\rc\td\u{0}e\u{1B}[2Jf\u{7F}") == "a\\nb\\rc\\td\\u{0}e\\u{1B}[2Jf\\u{7F}")
        #expect(LogSafe.text(String(repeating: "z", count: 1000)).count == LogSafe.defaultLimit + 1)
        #expect(LogSafe.text([0xFF, 0xFE, 0x41] as [UInt8]) == "\\u{FFFD}\\u{FFFD}A")
        #expect(LogSafe.text("漢字 ok") == "漢字 ok")
    }

    @Test("a server's exception message is bounded and escaped")
    func exceptionMessage() throws {
        let text = "Code: 60. DB::Exception: Table x\ndoes not exist\u{1B}[2J" + String(repeating: "y", count: 5000) + ". (UNKNOWN_TABLE) (version 26.9.0)"
        let parsed = try #require(ClickHouseExceptionText(parsing: text))
        let safe = LogSafe.text(parsed.message, limit: ClickHouseError.serverMessageLimit)
        #expect(!safe.contains("\n") && !safe.contains("\u{1B}"))
        #expect(safe.count <= ClickHouseError.serverMessageLimit + 1)
    }
}

@Suite("Timestamps at the ends of Int64 format without trapping")
struct TimestampEdgeTests {
    // The text itself is checked in UTCTimeTests (DateTime64TextTests); here, as a parameter.
    @Test("Int64.min and Int64.max nanoseconds")
    func extremes() {
        #expect(QueryParameter.timestamp(unixNanoseconds: Int64.min).encoded == "1677-09-21 00:12:43.145224192")
        #expect(QueryParameter.timestamp(unixNanoseconds: Int64.max).encoded == "2262-04-11 23:47:16.854775807")
        #expect(QueryParameter.timestamp(unixNanoseconds: -1).encoded == "1969-12-31 23:59:59.999999999")
    }
}
