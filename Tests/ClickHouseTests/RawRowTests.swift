import Testing
@testable import ClickHouse

/// Bytes of a result: a header of `columns` (name, type) and the rows' bytes.
private func result(_ columns: [(String, String)], rows: [[UInt8]]) -> [UInt8] {
    leb128(UInt64(columns.count)) + columns.flatMap { rbString($0.0) } + columns.flatMap { rbString($0.1) } + rows.flatMap { $0 }
}

private func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

/// Reads every row of `bytes`, fed `chunk` bytes at a time, through the raw path.
private func rawRows(_ bytes: [UInt8], decode: (Int) -> Bool, chunk: Int = 1 << 20, limits: RowBinaryDecoder.Limits = .init())
    throws(ClickHouseError) -> (columns: [ClickHouseColumn], rows: [(values: [ClickHouseValue], raw: RawRow)]) {
    var decoder = RowBinaryDecoder(limits: limits)
    var out: [([ClickHouseValue], RawRow)] = []
    var row: [ClickHouseValue] = []
    var raw = RawRow()
    var offset = 0
    while offset < bytes.count {
        decoder.feed(bytes[offset..<min(bytes.count, offset + chunk)])
        offset += chunk
        guard try decoder.decodeHeader() else { continue }
        let mask = (0..<decoder.columns!.count).map(decode)
        while try decoder.decodeRow(into: &row, raw: &raw, decode: mask, rowNumber: out.count + 1) { out.append((row, raw)) }
    }
    return (decoder.columns ?? [], out)
}

@Suite("RawRow: rows located by their bytes, values decoded only where asked")
struct RawRowTests {
    static let columns: [(String, String)] = [
        ("b", "DateTime('UTC')"), ("s", "String"), ("n", "Nullable(String)"), ("lc", "LowCardinality(String)"),
        ("u16", "UInt16"), ("i64", "Int64"), ("f", "Float64"), ("e", "Enum8('a' = 1, 'b' = 2)"), ("fs", "FixedString(3)"),
        ("uuid", "UUID"), ("ip", "IPv4"), ("d", "Decimal(18, 4)"), ("arr", "Array(UInt64)"), ("t", "Tuple(String, UInt8)"),
        ("m", "Map(String, UInt64)"), ("bool", "Bool"), ("dt64", "DateTime64(3, 'UTC')"),
    ]

    static func row(_ k: Int) -> [UInt8] {
        le(UInt32(1_767_225_600 + k * 60)) + rbString("provider-\(k)") + (k % 2 == 0 ? [1] : [0] + rbString("x\(k)"))
            + rbString(k % 3 == 0 ? "" : "lc\(k)") + le(UInt16(200 + k)) + le(Int64(-k)) + le((Double(k) / 3).bitPattern)
            + [UInt8(1 + k % 2)] + Array("f\(k % 10)x".utf8) + le(UInt64(k)) + le(UInt64(k * 7)) + le(UInt32(0x7F00_0001))
            + le(Int64(k * 12345)) + leb128(UInt64(k % 4)) + (0..<(k % 4)).flatMap { le(UInt64($0)) }
            + rbString("t\(k)") + [UInt8(k % 256)] + leb128(1) + rbString("key") + le(UInt64(k)) + [UInt8(k % 2)] + le(Int64(k))
    }

    @Test("every type: the bytes located, each value decoded from them equal to a full decode's, in any chunking", arguments: [1, 7, 1 << 20])
    func roundTrip(chunk: Int) throws {
        let rows = (0..<25).map(Self.row)
        let bytes = result(Self.columns, rows: rows)
        var full = RowBinaryDecoder()
        full.feed(bytes)
        _ = try full.decodeHeader()
        let (columns, raws) = try rawRows(bytes, decode: { $0 == 0 }, chunk: chunk)
        #expect(raws.count == rows.count)
        for (k, (values, raw)) in raws.enumerated() {
            var expected: [ClickHouseValue] = []
            #expect(try full.decodeRow(into: &expected, rowNumber: k + 1))
            #expect(Array(raw.bytes) == rows[k], "row \(k): the row's own bytes, kept by the copy after later rows were fed")
            #expect(values[0] == expected[0], "the decoded column")
            for c in columns.indices {
                #expect(raw.value(of: c, type: columns[c].type) == expected[c], "row \(k) column \(columns[c].name)")
            }
        }
    }

    @Test("hostile lengths and counts fail as .decoding through the raw path too", arguments: [
        ("String", leb128(1 << 31)),
        ("String", leb128(UInt64.max)),
        ("Array(UInt64)", leb128(1 << 40)),
        ("Map(String, UInt64)", leb128(1 << 40)),
        ("Array(Nothing)", leb128((1 << 20) + 1)),
        ("Array(Array(Nothing))", leb128(1 << 19) + leb128(1 << 20)),
        ("Array(Nullable(Nothing))", leb128(17 << 20)),
    ] as [(String, [UInt8])])
    func hostile(type: String, row: [UInt8]) {
        #expect(throws: ClickHouseError.self) { _ = try rawRows(header(type) + row, decode: { _ in false }) }
        do {
            _ = try rawRows(header(type) + row, decode: { _ in false })
        } catch {
            #expect(error.code == .decoding)
        }
    }

    @Test("a row over the row budget fails when stepped over, as when decoded")
    func rowBudget() {
        let limits = RowBinaryDecoder.Limits(maxRowBytes: 1024, maxValueBytes: 512)
        let bytes = header("String") + leb128(600) + Array(repeating: UInt8(ascii: "a"), count: 600)
        #expect(throws: ClickHouseError.self) { _ = try rawRows(bytes, decode: { _ in false }, limits: limits) }
    }
}
