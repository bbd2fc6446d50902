import CurlHTTP

/// A ClickHouse column type as `RowBinaryWithNamesAndTypes` declares it.
public indirect enum ClickHouseType: Sendable, Equatable, CustomStringConvertible {
    case uint8, uint16, uint32, uint64, int8, int16, int32, int64
    case float32, float64, bool, string
    case fixedString(Int)
    case date, date32
    case dateTime(timezone: String?)
    case dateTime64(precision: Int, timezone: String?)
    case uuid, ipv4, ipv6
    /// Decimal32/64/128 with its scale; the width in bytes is 4, 8 or 16.
    case decimal(width: Int, scale: Int)
    case enum8([Int: String]), enum16([Int: String])
    case nullable(ClickHouseType)
    case array(ClickHouseType)
    case tuple([ClickHouseType])
    case map(ClickHouseType, ClickHouseType)
    /// The type of a bare NULL (`Nullable(Nothing)`).
    case nothing

    /// The text ClickHouse uses for the type (normalised: LowCardinality is transparent).
    public var description: String {
        switch self {
        case .uint8: "UInt8"
        case .uint16: "UInt16"
        case .uint32: "UInt32"
        case .uint64: "UInt64"
        case .int8: "Int8"
        case .int16: "Int16"
        case .int32: "Int32"
        case .int64: "Int64"
        case .float32: "Float32"
        case .float64: "Float64"
        case .bool: "Bool"
        case .string: "String"
        case .fixedString(let n): "FixedString(\(n))"
        case .date: "Date"
        case .date32: "Date32"
        case .dateTime(let tz): tz.map { "DateTime('\($0)')" } ?? "DateTime"
        case .dateTime64(let p, let tz): tz.map { "DateTime64(\(p), '\($0)')" } ?? "DateTime64(\(p))"
        case .uuid: "UUID"
        case .ipv4: "IPv4"
        case .ipv6: "IPv6"
        case .decimal(let width, let scale): "Decimal\(width * 8)(\(scale))"
        case .enum8: "Enum8"
        case .enum16: "Enum16"
        case .nullable(let t): "Nullable(\(t))"
        case .array(let t): "Array(\(t))"
        case .tuple(let ts): "Tuple(\(ts.map(\.description).joined(separator: ", ")))"
        case .map(let k, let v): "Map(\(k), \(v))"
        case .nothing: "Nothing"
        }
    }

    /// The largest `FixedString(N)` accepted in a result header (ClickHouse's own limit is 16 MiB).
    public static let maxFixedStringLength = 1 << 24

    /// The fewest bytes one value of the type takes in RowBinary (0 for `Nothing`): an element
    /// count is checked against it before any element is decoded.
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool, .enum8: 1
        case .uint16, .int16, .date, .enum16: 2
        case .uint32, .int32, .float32, .date32, .dateTime, .ipv4: 4
        case .uint64, .int64, .float64, .dateTime64: 8
        case .uuid, .ipv6: 16
        case .string, .nullable, .array, .map: 1
        case .fixedString(let n): max(0, n)
        case .decimal(let width, _): width
        case .tuple(let types): types.reduce(0) { min(1 << 30, $0 + $1.minimumEncodedSize) }
        case .nothing: 0
        }
    }

    /// The type without `Nullable`.
    public var nonNullable: ClickHouseType {
        if case .nullable(let t) = self { return t }
        return self
    }

    public var isInteger: Bool {
        switch nonNullable {
        case .uint8, .uint16, .uint32, .uint64, .int8, .int16, .int32, .int64, .bool: true
        default: false
        }
    }

    public var isNumeric: Bool {
        switch nonNullable {
        case .float32, .float64, .decimal: true
        default: isInteger
        }
    }

    public var isTime: Bool {
        switch nonNullable {
        case .date, .date32, .dateTime, .dateTime64: true
        default: false
        }
    }

    /// Parses a type name such as `Nullable(DateTime64(3, 'UTC'))` or `Array(LowCardinality(String))`.
    public init(parsing text: String) throws(ClickHouseError) {
        var parser = TypeParser(text: Array(text.utf8), original: text)
        self = try parser.parseType()
        parser.skipSpaces()
        guard parser.atEnd else { throw parser.failure("unexpected text after the type") }
    }
}

private struct TypeParser {
    let text: [UInt8]
    let original: String
    var pos = 0
    /// Nesting of `Array(`, `Nullable(`, … so far: bounded, so a hostile header cannot exhaust the stack.
    var depth = 0
    static let maxDepth = 32

    var atEnd: Bool { pos >= text.count }

    func failure(_ why: String) -> ClickHouseError {
        ClickHouseError(code: .decoding, message: "cannot parse ClickHouse type '\(LogSafe.text(original, limit: 200))': \(why)")
    }

    mutating func skipSpaces() {
        while pos < text.count, text[pos] == UInt8(ascii: " ") { pos += 1 }
    }

    mutating func identifier() -> String {
        skipSpaces()
        let start = pos
        while pos < text.count, isIdentifierByte(text[pos]) { pos += 1 }
        return String(decoding: text[start..<pos], as: UTF8.self)
    }

    private func isIdentifierByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "_")
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        skipSpaces()
        if pos < text.count, text[pos] == byte { pos += 1; return true }
        return false
    }

    mutating func expect(_ byte: UInt8) throws(ClickHouseError) {
        guard consume(byte) else { throw failure("expected '\(Character(Unicode.Scalar(byte)))'") }
    }

    mutating func integer() throws(ClickHouseError) -> Int {
        skipSpaces()
        var negative = false
        if pos < text.count, text[pos] == UInt8(ascii: "-") { negative = true; pos += 1 }
        let start = pos
        while pos < text.count, text[pos] >= 0x30, text[pos] <= 0x39 { pos += 1 }
        guard pos > start, pos - start <= 9, let v = Int(String(decoding: text[start..<pos], as: UTF8.self)) else {
            throw failure("expected a number")
        }
        return negative ? -v : v
    }

    /// A single-quoted literal with backslash escapes.
    mutating func quoted() throws(ClickHouseError) -> String {
        skipSpaces()
        guard pos < text.count, text[pos] == UInt8(ascii: "'") else { throw failure("expected a quoted string") }
        pos += 1
        var bytes: [UInt8] = []
        while pos < text.count {
            let b = text[pos]
            pos += 1
            if b == UInt8(ascii: "\\"), pos < text.count {
                bytes.append(text[pos]); pos += 1
            } else if b == UInt8(ascii: "'") {
                return String(decoding: bytes, as: UTF8.self)
            } else {
                bytes.append(b)
            }
        }
        throw failure("unterminated quoted string")
    }

    /// Skips one argument we do not need (balanced parentheses, quotes).
    mutating func skipArgument() {
        var depth = 0
        while pos < text.count {
            let b = text[pos]
            if b == UInt8(ascii: "'") { _ = try? quoted(); continue }
            if b == UInt8(ascii: "(") { depth += 1 }
            if b == UInt8(ascii: ")") { if depth == 0 { return }; depth -= 1 }
            if b == UInt8(ascii: ","), depth == 0 { return }
            pos += 1
        }
    }

    mutating func parseType() throws(ClickHouseError) -> ClickHouseType {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw failure("types nested deeper than \(Self.maxDepth) levels") }
        let name = identifier()
        switch name {
        case "UInt8": return .uint8
        case "UInt16": return .uint16
        case "UInt32": return .uint32
        case "UInt64": return .uint64
        case "Int8": return .int8
        case "Int16": return .int16
        case "Int32": return .int32
        case "Int64": return .int64
        case "Float32": return .float32
        case "Float64": return .float64
        case "Bool": return .bool
        case "String": return .string
        case "UUID": return .uuid
        case "IPv4": return .ipv4
        case "IPv6": return .ipv6
        case "Date": return .date
        case "Date32": return .date32
        case "Nothing": return .nothing
        case "FixedString":
            try expect(UInt8(ascii: "("))
            let n = try integer()
            try expect(UInt8(ascii: ")"))
            guard (1...ClickHouseType.maxFixedStringLength).contains(n) else {
                throw failure("FixedString length \(n) is out of 1…\(ClickHouseType.maxFixedStringLength)")
            }
            return .fixedString(n)
        case "DateTime":
            guard consume(UInt8(ascii: "(")) else { return .dateTime(timezone: nil) }
            let tz = try quoted()
            try expect(UInt8(ascii: ")"))
            return .dateTime(timezone: tz)
        case "DateTime64":
            try expect(UInt8(ascii: "("))
            let precision = try integer()
            var tz: String?
            if consume(UInt8(ascii: ",")) { tz = try quoted() }
            try expect(UInt8(ascii: ")"))
            guard (0...9).contains(precision) else { throw failure("DateTime64 precision \(precision) is out of 0…9") }
            return .dateTime64(precision: precision, timezone: tz)
        case "Decimal32", "Decimal64", "Decimal128":
            try expect(UInt8(ascii: "("))
            let scale = try integer()
            try expect(UInt8(ascii: ")"))
            let width = name == "Decimal32" ? 4 : name == "Decimal64" ? 8 : 16
            let maxScale = width == 4 ? 9 : width == 8 ? 18 : 38
            guard (0...maxScale).contains(scale) else { throw failure("\(name) scale \(scale) is out of 0…\(maxScale)") }
            return .decimal(width: width, scale: scale)
        case "Decimal":
            try expect(UInt8(ascii: "("))
            let precision = try integer()
            var scale = 0
            if consume(UInt8(ascii: ",")) { scale = try integer() }
            try expect(UInt8(ascii: ")"))
            guard (1...76).contains(precision), (0...precision).contains(scale) else {
                throw failure("Decimal(\(precision), \(scale)) is out of range (precision 1…76, scale 0…precision)")
            }
            let width = precision <= 9 ? 4 : precision <= 18 ? 8 : precision <= 38 ? 16 : 32
            guard width <= 16 else { throw failure("Decimal256 is not supported") }
            return .decimal(width: width, scale: scale)
        case "Enum8", "Enum16":
            try expect(UInt8(ascii: "("))
            var names: [Int: String] = [:]
            repeat {
                let label = try quoted()
                try expect(UInt8(ascii: "="))
                names[try integer()] = label
            } while consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: ")"))
            return name == "Enum8" ? .enum8(names) : .enum16(names)
        case "Nullable":
            try expect(UInt8(ascii: "("))
            let inner = try parseType()
            try expect(UInt8(ascii: ")"))
            return .nullable(inner)
        case "LowCardinality":
            // Transparent in RowBinary.
            try expect(UInt8(ascii: "("))
            let inner = try parseType()
            try expect(UInt8(ascii: ")"))
            return inner
        case "SimpleAggregateFunction":
            try expect(UInt8(ascii: "("))
            skipArgument()
            try expect(UInt8(ascii: ","))
            let inner = try parseType()
            try expect(UInt8(ascii: ")"))
            return inner
        case "Array":
            try expect(UInt8(ascii: "("))
            let inner = try parseType()
            try expect(UInt8(ascii: ")"))
            return .array(inner)
        case "Tuple":
            try expect(UInt8(ascii: "("))
            var elements: [ClickHouseType] = []
            repeat {
                // Named tuple elements: `name Type`.
                let save = pos
                let first = identifier()
                skipSpaces()
                if !first.isEmpty, pos < text.count, isIdentifierByte(text[pos]) {
                    // `first` was an element name.
                } else {
                    pos = save
                }
                elements.append(try parseType())
            } while consume(UInt8(ascii: ","))
            try expect(UInt8(ascii: ")"))
            return .tuple(elements)
        case "Map":
            try expect(UInt8(ascii: "("))
            let key = try parseType()
            try expect(UInt8(ascii: ","))
            let value = try parseType()
            try expect(UInt8(ascii: ")"))
            return .map(key, value)
        case "":
            throw failure("expected a type name")
        case "Decimal256":
            throw failure("Decimal256 is not supported")
        default:
            throw failure("type \(LogSafe.text(name, limit: 60)) is not supported by otel-bridge's RowBinary decoder")
        }
    }
}
