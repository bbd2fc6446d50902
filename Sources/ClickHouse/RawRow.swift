/// A row's bytes as `RowBinaryWithNamesAndTypes` encodes them, and where each column's value
/// lies in them: what a reader identifies a row's attribute values by, without decoding them
/// (two values are equal exactly when their encodings are, and the encodings are
/// self-delimiting, so the bytes of several columns taken together identify them all).
///
/// The bytes are not copied: the row refers to the decoder's buffer (an array shared copy on
/// write), and the decoder lets go of it before it takes more bytes in, so that the buffer is
/// not copied either while the row is reused for the next one. A copy of the row kept past that
/// keeps its own bytes (the buffer is then copied once, on write).
public struct RawRow: Sendable {
    /// The buffer the row lies in, from `base`.
    @usableFromInline var storage: [UInt8] = []
    @usableFromInline var base = 0
    /// The end of each column's value, counted from the row's first byte; a column starts where
    /// the previous one ends.
    public internal(set) var ends: [Int] = []

    public init() {}

    /// The row's bytes (valid until the next row is read into this value).
    public var bytes: ArraySlice<UInt8> { storage[base..<base + (ends.last ?? 0)] }

    /// `body` with the row's bytes in place: offsets in it are those of `start(of:)` and `ends`.
    @inlinable @inline(__always)
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let base = self.base, end = base + (ends.last ?? 0)
        return try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[base..<end])) }
    }

    @inlinable @inline(__always)
    public func start(of column: Int) -> Int { column == 0 ? 0 : ends[column - 1] }

    /// The fixed-width value at the start of `column`, read as it is encoded (little-endian):
    /// for a column of a fixed-size type the row was not decoding (its size was checked when the
    /// row was read; precondition).
    @inlinable @inline(__always)
    public func load<T: FixedWidthInteger>(_: T.Type, column: Int) -> T {
        let start = start(of: column)
        precondition(ends[column] - start == MemoryLayout<T>.size, "column \(column) is not \(MemoryLayout<T>.size) bytes")
        return T(littleEndian: withUnsafeBytes { $0.loadUnaligned(fromByteOffset: start, as: T.self) })
    }

    /// The value of `column`, decoded from its bytes (for a column the row was not decoding).
    public func value(of column: Int, type: ClickHouseType) -> ClickHouseValue {
        let start = start(of: column), end = ends[column]
        return withUnsafeBytes { raw in
            var reader = RowBinary.Reader(bytes: UnsafeRawBufferPointer(rebasing: raw[..<end]), offset: start, limits: RowBinaryDecoder.Limits())
            // The bytes were checked when the row was read: decoding them again cannot fail.
            return (try? RowBinary.decode(type, &reader)) ?? .null
        }
    }

    /// Lets go of the decoder's buffer (before the decoder takes more bytes in): the row is then
    /// empty, and reading a column of it traps rather than reading outside the bytes.
    mutating func release() {
        storage = []
        base = 0
        ends.removeAll()
    }

    /// Whether the row refers to `buffer` already: the same storage, which no one changes while
    /// it is shared (a write copies it first).
    func shares(_ buffer: [UInt8]) -> Bool {
        storage.withUnsafeBufferPointer { a in buffer.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } }
    }
}

extension RowBinary {
    /// The encoded size of a value of `type` when it does not depend on the value.
    static func fixedSize(_ type: ClickHouseType) -> Int? {
        switch type {
        case .uint8, .int8, .bool, .enum8: 1
        case .uint16, .int16, .date, .enum16: 2
        case .uint32, .int32, .float32, .date32, .dateTime, .ipv4: 4
        case .uint64, .int64, .float64, .dateTime64: 8
        case .uuid, .ipv6: 16
        case .decimal(let width, _): width
        case .fixedString(let n): n >= 0 ? n : nil
        case .nothing: 0
        default: nil
        }
    }

    /// Steps over one value of `type`, with the checks and limits of ``decode(_:_:)`` (lengths,
    /// counts, the row's budgets); the value itself is not built.
    static func skip(_ type: ClickHouseType, _ r: inout Reader) throws(RowBinaryFailure) {
        try r.spendValue()
        if let size = fixedSize(type) {
            if case .fixedString = type, size > r.limits.maxValueBytes {
                throw .invalid("a value of \(size) bytes (the limit is \(r.limits.maxValueBytes))")
            }
            try r.require(size)
            r.offset += size
            return
        }
        switch type {
        case .string:
            let n = try r.length()
            try r.require(n)
            r.offset += n
        case .fixedString(let n):
            throw .invalid("FixedString(\(n))")
        case .nullable(let inner):
            if try r.load(UInt8.self) != 0 { return }
            try skip(inner, &r)
        case .array(let inner):
            let count = try r.count(of: inner.minimumEncodedSize)
            for _ in 0..<count { try skip(inner, &r) }
        case .tuple(let types):
            for t in types { try skip(t, &r) }
        case .map(let k, let v):
            let count = try r.count(of: k.minimumEncodedSize + v.minimumEncodedSize)
            guard count <= r.valuesLeft / 2 else { throw .invalid("a map of \(count) entries, more values than a row may hold") }
            for _ in 0..<count {
                try skip(k, &r)
                try skip(v, &r)
            }
        default:
            // Every other type has a fixed size.
            throw .invalid("cannot step over a value of type \(type)")
        }
    }
}

extension RowBinary {
    /// How the raw path reads a column's value, decided once per result and decode mask.
    enum Step {
        /// Decoded into a value.
        case decode(ClickHouseType)
        case fixed(Int)
        case string
        /// Stepped over by ``RowBinary/skip(_:_:)``: nested types, and a FixedString over the
        /// value limit (skip fails it).
        case other(ClickHouseType)

        init(_ type: ClickHouseType, decode: Bool, limits: RowBinaryDecoder.Limits) {
            if decode {
                self = .decode(type)
            } else if case .string = type {
                self = .string
            } else if let size = RowBinary.fixedSize(type), size <= limits.maxValueBytes {
                self = .fixed(size)
            } else {
                self = .other(type)
            }
        }
    }
}

extension RowBinaryDecoder {
    /// Reads the next row: the columns `decode` marks are decoded into `row` (resized to the
    /// column count; the others keep what they held), and every column's bytes are located in
    /// `raw`. `false` means more bytes are needed.
    ///
    /// Per row this retains nothing new: the steps are worked out once per decode mask (the
    /// same array, row after row, compares equal at once), and `raw` takes the buffer again only
    /// when it is not the one it holds (the decoder was fed meanwhile).
    public mutating func decodeRow(into row: inout [ClickHouseValue], raw: inout RawRow, decode: [Bool], rowNumber: Int) throws(ClickHouseError) -> Bool {
        guard let columnCount = columns?.count, position < buffer.count else {
            // A decoder that needs more bytes is fed next: a buffer still shared would be copied whole.
            raw.release()
            return false
        }
        if row.count != columnCount { row = Array(repeating: .null, count: columnCount) }
        if raw.ends.count != columnCount { raw.ends = Array(repeating: 0, count: columnCount) }
        if stepMask != decode {
            precondition(decode.count == columnCount, "decode marks \(decode.count) columns of \(columnCount)")
            let limits = self.limits
            steps = zip(columns!, decode).map { RowBinary.Step($0.type, decode: $1, limits: limits) }
            stepMask = decode
        }
        let start = position
        let read = try readRow(rowNumber: rowNumber) { (reader: inout RowBinary.Reader, steps: UnsafeBufferPointer<RowBinary.Step>) throws(RowBinaryFailure) in
            let start = reader.offset
            // Through buffer pointers: one uniqueness check per row, not one per column.
            try raw.ends.withUnsafeMutableBufferPointer { (ends) throws(RowBinaryFailure) in
                for i in 0..<steps.count {
                    switch steps[i] {
                    case .fixed(let size):
                        try reader.spendValue()
                        try reader.require(size)
                        reader.offset += size
                    case .string:
                        try reader.spendValue()
                        let n = try reader.length()
                        try reader.require(n)
                        reader.offset += n
                    case .decode(let type):
                        row[i] = try RowBinary.decode(type, &reader)
                    case .other(let type):
                        try RowBinary.skip(type, &reader)
                    }
                    ends[i] = reader.offset - start
                }
            }
        }
        if read {
            if !raw.shares(buffer) { raw.storage = buffer }
            raw.base = start
        } else {
            raw.release()
        }
        return read
    }
}
