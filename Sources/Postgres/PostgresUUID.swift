/// A `uuid` value: its 16 bytes as two 64-bit halves, the first 8 bytes in ``high`` (big-endian).
/// Text form: 32 lower-case hex digits in groups of 8-4-4-4-12, as Postgres prints it.
public struct PostgresUUID: Sendable, Hashable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The first 16 of `bytes`, in order.
    public init<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        var high: UInt64 = 0, low: UInt64 = 0, n = 0
        for byte in bytes.prefix(16) {
            if n < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
            n += 1
        }
        precondition(n == 16, "a uuid is 16 bytes, not \(n)")
        self.init(high: high, low: low)
    }

    /// Parses 32 hex digits, with or without the dashes of the 8-4-4-4-12 form (either case).
    public init?(_ text: String) {
        var high: UInt64 = 0, low: UInt64 = 0, digits = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "-") { continue }
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            if digits < 16 { high = high << 4 | UInt64(value) } else if digits < 32 { low = low << 4 | UInt64(value) } else { return nil }
            digits += 1
        }
        guard digits == 32 else { return nil }
        self.init(high: high, low: low)
    }

    public var description: String {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, half) in [high, low].enumerated() {
            for nibble in 0..<16 {
                let digits = i * 16 + nibble
                if digits == 8 || digits == 12 || digits == 16 || digits == 20 { out.append(UInt8(ascii: "-")) }
                out.append(hex[Int(half >> UInt64(60 - 4 * nibble) & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension PostgresUUID: PostgresBindable, PostgresArrayElement, PostgresDecodable {
    public var postgresText: String { description }
    public var postgresType: PostgresDataType { .uuid }
    public var postgresArrayElementText: String? { description }
    public static var postgresArrayType: PostgresDataType { .uuidArray }
    public static var postgresElementOID: UInt32? { PostgresDataType.uuid.rawValue }
    public func appendPostgresBinary(to bytes: inout [UInt8]) throws(PostgresBinaryRefusal) -> Bool {
        bytes.appendBigEndian(high)
        bytes.appendBigEndian(low)
        return true
    }

    public init(postgresText text: String?) throws(PostgresDecodingFailure) {
        guard let text else { throw .null("PostgresUUID") }
        guard let value = PostgresUUID(text) else { throw .unparseable("PostgresUUID") }
        self = value
    }
}
