/// Rows in Postgres' binary `COPY` format (`COPY … FROM STDIN (FORMAT binary)`), built in one
/// byte buffer for ``PostgresConnection/copyIn(_:_:file:line:)``: no statement text, no value
/// formatted as text and parsed again by the server.
///
/// The format (Postgres docs, "COPY", Binary Format): a header (`PGCOPY\n\377\r\n\0`, 32-bit flags
/// and header-extension length, both 0), then per row a 16-bit field count and per field a 32-bit
/// byte length (-1 for `NULL`) and the value in the type's binary send format, then a 16-bit -1.
/// All integers are big-endian. Each row must give its fields in the order of the `COPY`'s column
/// list, with the types of those columns: the server reads the bytes as the column's type.
///
/// ```swift
/// var copy = PostgresBinaryCopy()
/// copy.startRow(fields: 2)
/// try copy.appendText("a")
/// copy.appendInt64(nil)
/// try connection.copyIn("COPY t (name, n) FROM STDIN (FORMAT binary)", copy.finish())
/// ```
public struct PostgresBinaryCopy: Sendable {
    public private(set) var bytes: [UInt8]
    /// Rows started so far.
    public private(set) var rows = 0

    /// Microseconds from the Unix epoch to Postgres' (2000-01-01 00:00:00 UTC), its zero of time.
    public static let postgresEpochMicroseconds: Int64 = 946_684_800_000_000
    /// The `int8` type's oid, written into every `bigint[]` value.
    static let int8OID: Int32 = 20

    public init(reservingCapacity capacity: Int = 0) {
        self.bytes = []
        self.bytes.reserveCapacity(max(capacity, 19))
        self.bytes.append(contentsOf: [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00])
        self.appendRaw(Int32(0))  // flags: no OIDs
        self.appendRaw(Int32(0))  // header extension length
    }

    /// Starts a row of `fields` values; append exactly that many before the next row.
    public mutating func startRow(fields: Int) {
        self.rows += 1
        self.appendRaw(Int16(truncatingIfNeeded: fields))
    }

    /// A `NULL` in any column.
    public mutating func appendNull() {
        self.appendRaw(Int32(-1))
    }

    /// A `text` value (UTF-8). Throws ``PostgresError/Code/invalidParameter`` for a NUL, which
    /// Postgres text cannot hold, before anything is sent.
    public mutating func appendText(_ value: String?, column: String = "a text column") throws(PostgresError) {
        guard let value else { return self.appendNull() }
        try PostgresText.validate(value, parameter: column)
        self.appendRaw(Int32(truncatingIfNeeded: value.utf8.count))
        self.bytes.append(contentsOf: value.utf8)
    }

    /// A `jsonb` value: its version byte (1) and the JSON text, which the server parses.
    public mutating func appendJSONB(_ json: String?, column: String = "a jsonb column") throws(PostgresError) {
        guard let json else { return self.appendNull() }
        try PostgresText.validate(json, parameter: column)
        self.appendRaw(Int32(truncatingIfNeeded: json.utf8.count + 1))
        self.bytes.append(1)
        self.bytes.append(contentsOf: json.utf8)
    }

    /// A `bigint` value.
    public mutating func appendInt64(_ value: Int64?) {
        guard let value else { return self.appendNull() }
        self.appendRaw(Int32(8))
        self.appendRaw(value)
    }

    /// A `double precision` value, any bit pattern (NaN and the infinities included).
    public mutating func appendDouble(_ value: Double?) {
        guard let value else { return self.appendNull() }
        self.appendRaw(Int32(8))
        self.appendRaw(value.bitPattern)
    }

    /// A `timestamptz` value given as whole microseconds since the Unix epoch (what the column keeps).
    public mutating func appendTimestamp(unixMicroseconds: Int64?) {
        guard let unixMicroseconds else { return self.appendNull() }
        self.appendRaw(Int32(8))
        self.appendRaw(unixMicroseconds &- Self.postgresEpochMicroseconds)
    }

    /// A one-dimensional `bigint[]` value without `NULL` elements; `[]` is the empty array.
    public mutating func appendInt64Array(_ values: [Int64]?) {
        guard let values else { return self.appendNull() }
        if values.isEmpty {
            // An empty array has no dimensions: ndim 0, no NULLs, element type.
            self.appendRaw(Int32(12))
            self.appendRaw(Int32(0))
            self.appendRaw(Int32(0))
            self.appendRaw(Self.int8OID)
            return
        }
        self.appendRaw(Int32(truncatingIfNeeded: 20 + 12 * values.count))
        self.appendRaw(Int32(1))  // dimensions
        self.appendRaw(Int32(0))  // has NULLs
        self.appendRaw(Self.int8OID)
        self.appendRaw(Int32(truncatingIfNeeded: values.count))
        self.appendRaw(Int32(1))  // lower bound
        for value in values {
            self.appendRaw(Int32(8))
            self.appendRaw(value)
        }
    }

    /// The buffer with its trailer, ready to send.
    public func finish() -> [UInt8] {
        var out = self.bytes
        out.append(0xFF)
        out.append(0xFF)
        return out
    }

    @inline(__always)
    private mutating func appendRaw<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { self.bytes.append(contentsOf: $0) }
    }
}
