import Testing
@testable import ClickHouse

@Suite("Query parameters are escaped as ClickHouse parses them")
struct QueryParameterTests {
    @Test("top-level strings escape backslash, tab, newline, CR and NUL; quotes stay as they are")
    func topLevelString() {
        #expect(QueryParameter.string("a\tb\nc\\d'e\r\0").encoded == "a\\tb\\nc\\\\d'e\\r\\0")
        #expect(QueryParameter.string("zürich ✓").encoded == "zürich ✓")
    }

    @Test("NULL is \\N at the top level and NULL inside arrays")
    func nulls() {
        #expect(QueryParameter.null.encoded == "\\N")
        #expect(QueryParameter.array([.int(1), .null]).encoded == "[1,NULL]")
    }

    @Test("arrays are SQL literals with quoted-string escapes and no second escaping layer")
    func arrays() {
        #expect(QueryParameter.array([.string("it's"), .string("back\\slash")]).encoded == #"['it\'s','back\\slash']"#)
        #expect(QueryParameter.array([.double(1.5), .double(-2)]).encoded == "[1.5,-2.0]")
        #expect(QueryParameter.array([.string("tab\there\nnext")]).encoded == #"['tab\there\nnext']"#)
    }

    @Test("numbers keep full precision, including UInt64 above 2^53")
    func numbers() {
        #expect(QueryParameter.uint(18_446_744_073_709_551_615).encoded == "18446744073709551615")
        #expect(QueryParameter.int(-9_007_199_254_740_993).encoded == "-9007199254740993")
        #expect(QueryParameter.double(0.1).encoded == "0.1")
    }

    @Test("timestamps are written in UTC with nanoseconds")
    func timestamps() {
        #expect(QueryParameter.timestamp(unixNanoseconds: 0).encoded == "1970-01-01 00:00:00.000000000")
        #expect(QueryParameter.timestamp(unixNanoseconds: 1_700_000_000_123_000_000).encoded == "2023-11-14 22:13:20.123000000")
        #expect(QueryParameter.timestamp(unixNanoseconds: -1_000_000_000).encoded == "1969-12-31 23:59:59.000000000")
        #expect(QueryParameter.array([.timestamp(unixNanoseconds: 86_400_000_000_000)]).encoded == "['1970-01-02 00:00:00.000000000']")
    }
}

@Suite("ClickHouse exception texts")
struct ExceptionTextTests {
    @Test("modern body: code, name and message")
    func modern() throws {
        let text = "Code: 60. DB::Exception: Table default.nope does not exist. (UNKNOWN_TABLE) (version 26.9.0)\n"
        let parsed = try #require(ClickHouseExceptionText(parsing: text))
        #expect(parsed.code == 60)
        #expect(parsed.name == "UNKNOWN_TABLE")
        #expect(parsed.message == "Table default.nope does not exist")
    }

    @Test("pre-21 body: Code: N, e.displayText() = DB::Exception: …")
    func old() throws {
        let parsed = try #require(ClickHouseExceptionText(parsing: "Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1 (version 18.16.1)"))
        #expect(parsed.code == 62)
        #expect(parsed.message == "Syntax error: failed at position 1")
    }

    @Test("not an exception")
    func none() {
        #expect(ClickHouseExceptionText(parsing: "Ok.\n") == nil)
        #expect(ClickHouseExceptionText(parsing: "Code: x") == nil)
    }

    @Test("legacy trailing exception after row bytes")
    func trailing() throws {
        let body: [UInt8] = [1, 2, 3, 0xFF] + Array("\nCode: 395. DB::Exception: Value passed to 'throwIf' function is non-zero. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 24.3.1)\n".utf8)
        let parsed = try #require(ClickHouseExceptionText.trailing(in: body))
        #expect(parsed.code == 395)
        #expect(parsed.name == "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO")
        #expect(parsed.message == "Value passed to 'throwIf' function is non-zero")
    }
}

@Suite("Tagged mid-stream exceptions (ClickHouse 25.11+)")
struct TaggedExceptionTests {
    let tag = "Q1W2E3R4T5Y6U7I8"

    func block(_ message: String) -> [UInt8] {
        Array("__exception__\r\n\(tag)\r\n\(message)\n\(message.utf8.count) \(tag)\r\n__exception__\r\n".utf8)
    }

    @Test("data before the marker is released, the exception is parsed, nothing of it is data")
    func wholeBlock() throws {
        var scanner = TaggedExceptionScanner(tag: tag)
        let message = "Code: 395. DB::Exception: boom. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 26.9.0)"
        let data = scanner.feed([9, 8, 7] + block(message))
        #expect(data == [9, 8, 7])
        let parsed = try #require(scanner.exception)
        #expect(parsed.code == 395)
        #expect(parsed.message == "boom")
    }

    @Test("a marker split across chunks at every position is still found")
    func splitMarker() throws {
        let message = "Code: 159. DB::Exception: Timeout exceeded: elapsed 5 seconds. (TIMEOUT_EXCEEDED) (version 26.9.0)"
        let payload: [UInt8] = Array(repeating: 0x5F, count: 40) + block(message)  // underscores before it, as a trap
        for split in 1..<payload.count {
            var scanner = TaggedExceptionScanner(tag: tag)
            var data = scanner.feed(Array(payload[..<split]))
            data += scanner.feed(Array(payload[split...]))
            if scanner.exceptionBlock == nil { data += scanner.finish() }
            #expect(data == Array(repeating: 0x5F, count: 40), "split at \(split)")
            #expect(scanner.exception?.code == 159, "split at \(split)")
        }
    }

    @Test("fed in small chunks, the data is released in order and the marker found", arguments: [1, 2, 3, 7, 16, 29, 30, 31, 64])
    func smallChunks(size: Int) throws {
        let message = "Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED) (version 26.9.0)"
        // Data that holds the marker's first bytes and its first byte alone, as traps.
        let before: [UInt8] = (0..<200).map { UInt8($0 % 251) } + Array("__exception__\r\nQ1W2".utf8) + [0x5F, 0x5F, 1]
        let payload = before + block(message)
        var scanner = TaggedExceptionScanner(tag: tag)
        var data: [UInt8] = []
        for start in stride(from: 0, to: payload.count, by: size) {
            scanner.feed(Array(payload[start..<min(payload.count, start + size)])) { data += $0 }
        }
        if scanner.exceptionBlock == nil { data += scanner.finish() }
        #expect(data == before)
        #expect(scanner.exception?.code == 241)
    }

    @Test("without a marker every byte is data, in order")
    func noMarker() {
        var scanner = TaggedExceptionScanner(tag: tag)
        let chunks: [[UInt8]] = [Array("__exception__\r\nNOTTHETAG".utf8), [1, 2], Array(repeating: 7, count: 100)]
        var out: [UInt8] = []
        for c in chunks { out += scanner.feed(c) }
        out += scanner.finish()
        #expect(out == chunks.flatMap { $0 })
        #expect(scanner.exception == nil)
    }
}

@Suite("ClickHouse type names")
struct TypeParsingTests {
    @Test("types the bridge decodes", arguments: [
        ("UInt64", ClickHouseType.uint64),
        ("LowCardinality(String)", .string),
        ("DateTime64(3, 'UTC')", .dateTime64(precision: 3, timezone: "UTC")),
        ("Nullable(Float64)", .nullable(.float64)),
        ("Array(Float64)", .array(.float64)),
        ("Array(LowCardinality(Nullable(String)))", .array(.nullable(.string))),
        ("Decimal(18, 4)", .decimal(width: 8, scale: 4)),
        ("Map(String, UInt64)", .map(.string, .uint64)),
        ("Tuple(a UInt8, b String)", .tuple([.uint8, .string])),
        ("DateTime('Europe/Berlin')", .dateTime(timezone: "Europe/Berlin")),
    ])
    func parse(text: String, expected: ClickHouseType) throws {
        #expect(try ClickHouseType(parsing: text) == expected)
    }

    @Test("an unsupported type names itself")
    func unsupported() {
        #expect {
            try ClickHouseType(parsing: "AggregateFunction(uniq, String)")
        } throws: { error in
            (error as? ClickHouseError)?.message.contains("AggregateFunction") == true
        }
    }
}
