import CurlHTTP

/// Decoding of ClickHouse's `RowBinaryWithNamesAndTypes` output format.
///
/// The format: a LEB128 column count, the column names, the column type names, then rows, each the
/// concatenation of its values in little-endian binary (strings and arrays carry a LEB128 length).
/// It is the format otel-bridge reads because it is the cheapest to decode and the most compact on
/// the wire (measured: `swift run -c release otel-bridge-bench clickhouse-formats`).
enum RowBinary {
    /// A cursor over a contiguous byte buffer, within the budget of one row (or the header).
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset: Int
        let limits: RowBinaryDecoder.Limits
        /// Where the current row (or the header) began.
        let rowStart: Int
        /// Values the row may still hold (nested ones included).
        var valuesLeft: Int

        init(bytes: UnsafeRawBufferPointer, offset: Int, limits: RowBinaryDecoder.Limits) {
            self.bytes = bytes
            self.offset = offset
            self.limits = limits
            self.rowStart = offset
            self.valuesLeft = limits.maxValuesPerRow
        }

        /// Bytes the row may still take, counted from the current offset.
        var rowBytesLeft: Int { limits.maxRowBytes - (offset - rowStart) }

        @inline(__always)
        mutating func require(_ n: Int) throws(RowBinaryFailure) {
            guard n >= 0 else { throw .invalid("a negative length") }
            if n > rowBytesLeft { throw .invalid("a row (or the header) larger than \(limits.maxRowBytes) bytes") }
            if bytes.count - offset < n { throw .underflow }
        }

        @inline(__always)
        mutating func load<T: FixedWidthInteger>(_: T.Type) throws(RowBinaryFailure) -> T {
            try require(MemoryLayout<T>.size)
            let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
            offset += MemoryLayout<T>.size
            return T(littleEndian: v)
        }

        @inline(__always)
        mutating func varUInt() throws(RowBinaryFailure) -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                try require(1)
                let b = bytes[offset]
                offset += 1
                result |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return result }
                shift += 7
                if shift > 63 { throw .invalid("a length prefix is longer than 10 bytes") }
            }
        }

        /// A length prefix (string, FixedString), within the per-value limit: checked before any
        /// conversion to `Int`, so a 2 GiB or 2^64 length is an error, never a trap or a wait.
        @inline(__always)
        mutating func length() throws(RowBinaryFailure) -> Int {
            // Most values are shorter than 128 bytes: a one-byte prefix.
            if offset < bytes.count, bytes[offset] < 0x80, Int(bytes[offset]) <= limits.maxValueBytes {
                defer { offset += 1 }
                return Int(bytes[offset])
            }
            let length = try varUInt()
            guard length <= UInt64(limits.maxValueBytes) else {
                throw .invalid("a value of \(length) bytes (the limit is \(limits.maxValueBytes))")
            }
            return Int(length)
        }

        /// An element count (Array, Map), within the row's remaining value and byte budgets.
        mutating func count(of elementSize: Int) throws(RowBinaryFailure) -> Int {
            let count = try varUInt()
            guard count <= UInt64(valuesLeft) else {
                throw .invalid("\(count) elements, more than the \(limits.maxValuesPerRow) values one row may hold")
            }
            let n = Int(count)
            if elementSize > 0, n > rowBytesLeft / elementSize {
                throw .invalid("\(count) elements of at least \(elementSize) bytes, more than a row may hold (\(limits.maxRowBytes) bytes)")
            }
            return n
        }

        /// Counts one decoded value against the row's budget.
        @inline(__always)
        mutating func spendValue() throws(RowBinaryFailure) {
            guard valuesLeft > 0 else { throw .invalid("more than \(limits.maxValuesPerRow) values in one row") }
            valuesLeft -= 1
        }

        mutating func rawBytes(_ n: Int) throws(RowBinaryFailure) -> UnsafeRawBufferPointer {
            guard n <= limits.maxValueBytes else {
                throw .invalid("a value of \(n) bytes (the limit is \(limits.maxValueBytes))")
            }
            try require(n)
            let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n])
            offset += n
            return slice
        }

        mutating func string() throws(RowBinaryFailure) -> String {
            let raw = try rawBytes(try length())
            return String(validating: raw, as: UTF8.self) ?? RowBinary.escapingInvalidUTF8(raw)
        }
    }

    /// Decodes one value of `type`.
    static func decode(_ type: ClickHouseType, _ r: inout Reader) throws(RowBinaryFailure) -> ClickHouseValue {
        try r.spendValue()
        switch type {
        case .uint8: return .uint(UInt64(try r.load(UInt8.self)))
        case .uint16: return .uint(UInt64(try r.load(UInt16.self)))
        case .uint32: return .uint(UInt64(try r.load(UInt32.self)))
        case .uint64: return .uint(try r.load(UInt64.self))
        case .int8: return .int(Int64(try r.load(Int8.self)))
        case .int16: return .int(Int64(try r.load(Int16.self)))
        case .int32: return .int(Int64(try r.load(Int32.self)))
        case .int64: return .int(try r.load(Int64.self))
        case .float32: return .float(Double(Float(bitPattern: try r.load(UInt32.self))))
        case .float64: return .float(Double(bitPattern: try r.load(UInt64.self)))
        case .bool: return .bool(try r.load(UInt8.self) != 0)
        case .string: return .string(try r.string())
        case .fixedString(let n):
            guard n >= 0 else { throw .invalid("FixedString(\(n))") }
            let raw = try r.rawBytes(n)
            return .string(String(decoding: raw, as: UTF8.self))
        case .date: return .date(days: Int32(try r.load(UInt16.self)))
        case .date32: return .date(days: try r.load(Int32.self))
        case .dateTime: return .dateTime(seconds: Int64(try r.load(UInt32.self)))
        case .dateTime64(let precision, _): return .dateTime64(ticks: try r.load(Int64.self), precision: precision)
        case .uuid:
            let high = try r.load(UInt64.self)
            let low = try r.load(UInt64.self)
            return .string(formatUUID(high: high, low: low))
        case .ipv4:
            let v = try r.load(UInt32.self)
            return .string("\(v >> 24).\(v >> 16 & 0xFF).\(v >> 8 & 0xFF).\(v & 0xFF)")
        case .ipv6:
            let raw = try r.rawBytes(16)
            var groups: [String] = []
            for i in stride(from: 0, to: 16, by: 2) {
                groups.append(String(UInt16(raw[i]) << 8 | UInt16(raw[i + 1]), radix: 16))
            }
            return .string(groups.joined(separator: ":"))
        case .decimal(let width, let scale):
            switch width {
            case 4: return .decimal(units: Int64(try r.load(Int32.self)), scale: scale)
            case 8: return .decimal(units: try r.load(Int64.self), scale: scale)
            default:
                let low = try r.load(UInt64.self)
                let high = try r.load(Int64.self)
                // Representable in Int64 only when the high word is the sign extension of the low.
                guard (high == 0 && low <= UInt64(Int64.max)) || (high == -1 && low > UInt64(Int64.max)) else {
                    throw .invalid("a Decimal128 value does not fit in 64 bits")
                }
                return .decimal(units: Int64(bitPattern: low), scale: scale)
            }
        case .enum8(let names):
            let v = Int(try r.load(Int8.self))
            return .string(names[v] ?? String(v))
        case .enum16(let names):
            let v = Int(try r.load(Int16.self))
            return .string(names[v] ?? String(v))
        case .nullable(let inner):
            if try r.load(UInt8.self) != 0 { return .null }
            return try decode(inner, &r)
        case .nothing:
            return .null
        case .array(let inner):
            let count = try r.count(of: inner.minimumEncodedSize)
            var items: [ClickHouseValue] = []
            // Reserve no more than the bytes at hand can fill: the count is the server's word.
            items.reserveCapacity(min(count, max(0, r.bytes.count - r.offset)))
            for _ in 0..<count { items.append(try decode(inner, &r)) }
            return .array(items)
        case .tuple(let types):
            var items: [ClickHouseValue] = []
            items.reserveCapacity(types.count)
            for t in types { items.append(try decode(t, &r)) }
            return .tuple(items)
        case .map(let k, let v):
            let count = try r.count(of: k.minimumEncodedSize + v.minimumEncodedSize)
            guard count <= r.valuesLeft / 2 else { throw .invalid("a map of \(count) entries, more values than a row may hold") }
            var items: [ClickHouseValue] = []
            for _ in 0..<count {
                items.append(try decode(k, &r))
                items.append(try decode(v, &r))
            }
            return .map(items)
        }
    }

    static func formatUUID(high: UInt64, low: UInt64) -> String {
        func hex(_ v: UInt64, _ digits: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: digits - s.count) + s
        }
        let h = hex(high, 16), l = hex(low, 16)
        return "\(h.prefix(8))-\(h.dropFirst(8).prefix(4))-\(h.suffix(4))-\(l.prefix(4))-\(l.suffix(12))"
    }
}

enum RowBinaryFailure: Error {
    case underflow
    case invalid(String)
}

/// A result column: its name and type.
public struct ClickHouseColumn: Sendable, Equatable {
    public var name: String
    public var type: ClickHouseType
    /// The type as ClickHouse wrote it (`LowCardinality(String)`).
    public var typeName: String

    public init(name: String, type: ClickHouseType, typeName: String) {
        self.name = name
        self.type = type
        self.typeName = typeName
    }
}

/// Decodes `RowBinaryWithNamesAndTypes` from bytes fed in chunks, with no I/O of its own: the
/// header once, then rows. A row split across chunks is decoded again once the rest arrived.
public struct RowBinaryDecoder {
    /// Bounds that keep a hostile or broken server from making the decoder trap, hang or
    /// allocate without limit: a length, count or row over them is a `.decoding` error.
    public struct Limits: Sendable, Equatable {
        /// Bytes one row may take, and the header too (default 16 MiB). A row still incomplete
        /// when this many bytes are buffered fails instead of buffering more.
        public var maxRowBytes: Int
        /// Bytes of one String or FixedString value (default 4 MiB).
        public var maxValueBytes: Int
        /// Values one row may hold, elements of arrays, maps and tuples included (default 1 Mi).
        public var maxValuesPerRow: Int
        /// Columns of a result (default 10 000).
        public var maxColumns: Int

        public init(maxRowBytes: Int = 16 << 20, maxValueBytes: Int = 4 << 20,
                    maxValuesPerRow: Int = 1 << 20, maxColumns: Int = 10_000) {
            self.maxRowBytes = max(1, maxRowBytes)
            self.maxValueBytes = max(0, min(maxValueBytes, self.maxRowBytes))
            self.maxValuesPerRow = max(1, maxValuesPerRow)
            self.maxColumns = max(1, maxColumns)
        }
    }

    /// The result's columns, once the header has been decoded.
    public private(set) var columns: [ClickHouseColumn]?
    public let limits: Limits
    var buffer: [UInt8] = []
    var position = 0
    /// Per column, how the raw path reads it (``RowBinary/Step``), for the decode mask `stepMask`.
    var steps: [RowBinary.Step] = []
    var stepMask: [Bool] = []

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Bytes fed but not yet decoded.
    public var pendingBytes: ArraySlice<UInt8> { buffer[position...] }

    /// Appends the next chunk of the body.
    public mutating func feed<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        if position > 0 && position * 2 >= buffer.count {
            buffer.removeSubrange(0..<position)
            position = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Decodes the header if it is complete; `false` means more bytes are needed.
    public mutating func decodeHeader() throws(ClickHouseError) -> Bool {
        if columns != nil { return true }
        let start = position
        let limits = self.limits
        let parsed = buffer.withUnsafeBytes { raw in
            Result { () throws(RowBinaryFailure) -> (Int, [ClickHouseColumn]) in
                var r = RowBinary.Reader(bytes: raw, offset: start, limits: limits)
                let count = try r.varUInt()
                guard count >= 1, count <= UInt64(limits.maxColumns) else { throw .invalid("a column count of \(count) (1…\(limits.maxColumns))") }
                var names: [String] = []
                for _ in 0..<count { names.append(try r.string()) }
                var columns: [ClickHouseColumn] = []
                for name in names {
                    let typeName = try r.string()
                    let type: ClickHouseType
                    do throws(ClickHouseError) {
                        type = try ClickHouseType(parsing: typeName)
                    } catch {
                        throw .invalid("column \(LogSafe.text(name, limit: 100)): \(error.message), which otel-bridge cannot decode")
                    }
                    columns.append(ClickHouseColumn(name: name, type: type, typeName: typeName))
                }
                return (r.offset, columns)
            }
        }
        switch parsed {
        case .success(let (end, columns)):
            position = end
            self.columns = columns
            return true
        case .failure(.invalid(let why)):
            throw ClickHouseError(code: .decoding, message: "result header: \(why)")
        case .failure(.underflow):
            return false
        }
    }

    /// Decodes the next row into `row` (resized to the column count); `false` means more bytes
    /// are needed (or the body ended, if nothing more will come).
    public mutating func decodeRow(into row: inout [ClickHouseValue], rowNumber: Int) throws(ClickHouseError) -> Bool {
        guard let columns, position < buffer.count else { return false }
        if row.count != columns.count { row = Array(repeating: .null, count: columns.count) }
        return try readRow(rowNumber: rowNumber) { (reader: inout RowBinary.Reader) throws(RowBinaryFailure) in
            for i in 0..<columns.count {
                row[i] = try RowBinary.decode(columns[i].type, &reader)
            }
        }
    }

    /// Runs `read` over the buffered bytes as the next row, within the row's limits; once it read
    /// a whole row, the decoder moves past it. `false` means more bytes are needed.
    mutating func readRow(rowNumber: Int, _ read: (inout RowBinary.Reader) throws(RowBinaryFailure) -> Void) throws(ClickHouseError) -> Bool {
        try readRow(rowNumber: rowNumber) { (reader: inout RowBinary.Reader, _: UnsafeBufferPointer<RowBinary.Step>) throws(RowBinaryFailure) in try read(&reader) }
    }

    /// ``readRow(rowNumber:_:)`` with the raw path's steps in place.
    mutating func readRow(rowNumber: Int, _ read: (inout RowBinary.Reader, UnsafeBufferPointer<RowBinary.Step>) throws(RowBinaryFailure) -> Void) throws(ClickHouseError) -> Bool {
        let start = position
        let limits = self.limits
        let result = buffer.withUnsafeBytes { raw in
            steps.withUnsafeBufferPointer { steps in
                Result { () throws(RowBinaryFailure) -> Int in
                    var reader = RowBinary.Reader(bytes: raw, offset: start, limits: limits)
                    try read(&reader, steps)
                    return reader.offset
                }
            }
        }
        switch result {
        case .success(let end):
            position = end
            return true
        case .failure(.invalid(let why)):
            throw ClickHouseError(code: .decoding, message: "row \(rowNumber): \(why)")
        case .failure(.underflow):
            return false
        }
    }
}
