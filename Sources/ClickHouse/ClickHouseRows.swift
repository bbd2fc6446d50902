/// Rows of a result with their columns, read one at a time: a query's ``ClickHouseRowStream``, or
/// a result already in memory (``ClickHouseBufferedRows``, for benchmarks and tests).
public protocol ClickHouseRows: AnyObject {
    var columns: [ClickHouseColumn] { get }
    /// Decodes the next row into `row` (resized to the column count). Returns `false` at the end.
    func next(into row: inout [ClickHouseValue]) throws(ClickHouseError) -> Bool
    /// Reads the next row: the columns `decode` marks decoded into `row`, every column's bytes
    /// located in `raw` (``RowBinaryDecoder/decodeRow(into:raw:decode:rowNumber:)``).
    func next(into row: inout [ClickHouseValue], raw: inout RawRow, decode: [Bool]) throws(ClickHouseError) -> Bool
}

extension ClickHouseRowStream: ClickHouseRows {}

/// A `RowBinaryWithNamesAndTypes` result held in memory, decoded as if it arrived in chunks of
/// `chunkSize` bytes (as the network delivers a streamed result).
public final class ClickHouseBufferedRows: ClickHouseRows {
    private var decoder = RowBinaryDecoder()
    private let bytes: [UInt8]
    private let chunkSize: Int
    private var fed = 0
    private var rowsRead = 0

    public init(_ bytes: [UInt8], chunkSize: Int = 64 * 1024) throws(ClickHouseError) {
        self.bytes = bytes
        self.chunkSize = max(1, chunkSize)
        while try !decoder.decodeHeader() {
            guard feed() else { throw ClickHouseError(code: .decoding, message: "the result ended before its header was complete") }
        }
    }

    public var columns: [ClickHouseColumn] { decoder.columns ?? [] }

    public func next(into row: inout [ClickHouseValue]) throws(ClickHouseError) -> Bool {
        try next { (decoder: inout RowBinaryDecoder, n: Int) throws(ClickHouseError) -> Bool in try decoder.decodeRow(into: &row, rowNumber: n) }
    }

    public func next(into row: inout [ClickHouseValue], raw: inout RawRow, decode: [Bool]) throws(ClickHouseError) -> Bool {
        try next { (decoder: inout RowBinaryDecoder, n: Int) throws(ClickHouseError) -> Bool in
            try decoder.decodeRow(into: &row, raw: &raw, decode: decode, rowNumber: n)
        }
    }

    private func next(_ decodeRow: (inout RowBinaryDecoder, Int) throws(ClickHouseError) -> Bool) throws(ClickHouseError) -> Bool {
        while true {
            if try decodeRow(&decoder, rowsRead + 1) {
                rowsRead += 1
                return true
            }
            guard feed() else {
                if !decoder.pendingBytes.isEmpty {
                    throw ClickHouseError(code: .decoding, message: "the result ended in the middle of row \(rowsRead + 1)")
                }
                return false
            }
        }
    }

    private func feed() -> Bool {
        guard fed < bytes.count else { return false }
        let end = min(bytes.count, fed + chunkSize)
        decoder.feed(bytes[fed..<end])
        fed = end
        return true
    }
}
