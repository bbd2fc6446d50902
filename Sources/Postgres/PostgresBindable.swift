#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import UTCTime

/// A Postgres type, identified by its OID, sent with each parameter so that the server does not
/// have to guess. ``unspecified`` lets the server infer the type from the statement.
public struct PostgresDataType: Sendable, Hashable, RawRepresentable {
    /// The type's OID in `pg_type`.
    public var rawValue: UInt32

    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// Let the server infer the type from the context (`$1::jsonb`, a column it is compared to, …).
    public static let unspecified = Self(rawValue: 0)
    public static let bool = Self(rawValue: 16)
    public static let int8 = Self(rawValue: 20)
    public static let text = Self(rawValue: 25)
    public static let float8 = Self(rawValue: 701)
    public static let timestamptz = Self(rawValue: 1184)
    public static let boolArray = Self(rawValue: 1000)
    public static let textArray = Self(rawValue: 1009)
    public static let int8Array = Self(rawValue: 1016)
    public static let float8Array = Self(rawValue: 1022)
    public static let timestamptzArray = Self(rawValue: 1185)
    public static let uuid = Self(rawValue: 2950)
    public static let uuidArray = Self(rawValue: 2951)
}

/// A Swift value that can be sent as a statement parameter (`$1`, `$2`, …).
///
/// Conforming: `String`, `Int`, `Int64`, `Int32`, `Double`, `Bool`, `Date` (as `timestamptz`), and
/// arrays of those (with optional elements for SQL `NULL` elements). A `nil` parameter is SQL `NULL`.
///
/// Scalars travel in text format. An array whose elements have a binary form (every element type
/// but the times) travels in Postgres' binary array format: a checkpoint commit sends a thousand
/// series in one statement, and printing and parsing `{…}` literals was most of its cost.
public protocol PostgresBindable {
    /// The value in Postgres text format.
    var postgresText: String { get }
    /// The parameter's type; ``PostgresDataType/unspecified`` lets the server infer it.
    var postgresType: PostgresDataType { get }
    /// The value in Postgres binary format (format code 1) for ``postgresType``, or `nil` to send
    /// ``postgresText``.
    var postgresBinary: [UInt8]? { get }
}

extension PostgresBindable {
    public var postgresBinary: [UInt8]? { nil }
}

/// A value that can be an element of an array parameter. `Optional` conforms, so `[String?]`
/// becomes `{"a",NULL}`.
public protocol PostgresArrayElement {
    /// The element in array-literal form (quoted where needed), or `nil` for `NULL`.
    var postgresArrayElementText: String? { get }
    /// The type of an array of this element, such as ``PostgresDataType/int8Array``.
    static var postgresArrayType: PostgresDataType { get }
    /// The element's type in `pg_type` (`int8` for ``postgresArrayType`` `int8Array`), or `nil`
    /// if the element has no binary form here and its arrays go as text.
    static var postgresElementOID: UInt32? { get }
    /// Appends the element in binary format, without its length word, and returns `true`; returns
    /// `false` for `NULL`. Throws if the value cannot go in binary (a `String` holding NUL: the
    /// array then goes as text, whose check names the parameter).
    func appendPostgresBinary(to bytes: inout [UInt8]) throws(PostgresBinaryRefusal) -> Bool
}

/// An element that cannot be written in binary format; its array is sent as text instead.
public struct PostgresBinaryRefusal: Error {
    public init() {}
}

extension PostgresArrayElement {
    public static var postgresElementOID: UInt32? { nil }
    public func appendPostgresBinary(to bytes: inout [UInt8]) throws(PostgresBinaryRefusal) -> Bool {
        throw PostgresBinaryRefusal()
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` in network byte order, as Postgres' binary formats write every integer.
    @inlinable @usableFromInline
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { self.append(contentsOf: $0) }
    }
}

extension String: PostgresBindable, PostgresArrayElement {
    /// Strings are sent untyped, so that one can bind to `text`, `jsonb`, `interval`, … by context.
    public var postgresText: String { self }
    public var postgresType: PostgresDataType { .unspecified }

    @inlinable
    public var postgresArrayElementText: String? {
        // Byte by byte: '"' and '\\' never occur inside a multi-byte UTF-8 sequence.
        let utf8 = self.utf8
        guard utf8.contains(where: { $0 == 0x22 || $0 == 0x5C }) else { return "\"" + self + "\"" }
        var quoted: [UInt8] = [0x22]
        quoted.reserveCapacity(utf8.count + 16)
        for byte in utf8 {
            if byte == 0x22 || byte == 0x5C { quoted.append(0x5C) }
            quoted.append(byte)
        }
        quoted.append(0x22)
        return String(decoding: quoted, as: UTF8.self)
    }

    public static var postgresArrayType: PostgresDataType { .textArray }
    public static var postgresElementOID: UInt32? { 25 }

    @inlinable
    public func appendPostgresBinary(to bytes: inout [UInt8]) throws(PostgresBinaryRefusal) -> Bool {
        let utf8 = self.utf8
        if utf8.withContiguousStorageIfAvailable({ $0.contains(0) }) ?? utf8.contains(0) { throw PostgresBinaryRefusal() }
        bytes.append(contentsOf: utf8)
        return true
    }
}

extension Int64: PostgresBindable, PostgresArrayElement {
    public var postgresText: String { String(self) }
    public var postgresType: PostgresDataType { .int8 }
    public static var postgresElementOID: UInt32? { 20 }
    @inlinable
    public func appendPostgresBinary(to bytes: inout [UInt8]) throws(PostgresBinaryRefusal) -> Bool {
        bytes.appendBigEndian(Int64(self))
        return true
    }
    @inlinable public var postgresArrayElementText: String? { String(self) }
    public static var postgresArrayType: PostgresDataType { .int8Array }
}

extension Int: PostgresBindable, PostgresArrayElement {
    public var postgresText: String { String(self) }
    public var postgresType: PostgresDataType { .int8 }
    public static var postgresElementOID: UInt32? { 20 }
    @inlinable
    public func appendPostgresBinary(to bytes: inout [UInt8]) throws(PostgresBinaryRefusal) -> Bool {
        bytes.appendBigEndian(Int64(self))
        return true
    }
    public var postgresArrayElementText: String? { String(self) }
    public static var postgresArrayType: PostgresDataType { .int8Array }
}

extension Int32: PostgresBindable, PostgresArrayElement {
    public var postgresText: String { String(self) }
    public var postgresType: PostgresDataType { .int8 }
    public static var postgresElementOID: UInt32? { 20 }
    @inlinable
    public func appendPostgresBinary(to bytes: inout [UInt8]) throws(PostgresBinaryRefusal) -> Bool {
        bytes.appendBigEndian(Int64(self))
        return true
    }
    public var postgresArrayElementText: String? { String(self) }
    public static var postgresArrayType: PostgresDataType { .int8Array }
}

extension Double: PostgresBindable, PostgresArrayElement {
    /// `NaN`, `Infinity`, `-Infinity`, or the shortest decimal that reads back to the same value.
    public var postgresText: String {
        if self.isNaN { return "NaN" }
        if self == .infinity { return "Infinity" }
        if self == -.infinity { return "-Infinity" }
        return "\(self)"
    }

    public var postgresType: PostgresDataType { .float8 }
    public var postgresArrayElementText: String? { self.postgresText }
    public static var postgresArrayType: PostgresDataType { .float8Array }
    public static var postgresElementOID: UInt32? { 701 }
    @inlinable
    public func appendPostgresBinary(to bytes: inout [UInt8]) throws(PostgresBinaryRefusal) -> Bool {
        bytes.appendBigEndian(self.bitPattern)
        return true
    }

}

extension Bool: PostgresBindable, PostgresArrayElement {
    public var postgresText: String { self ? "true" : "false" }
    public var postgresType: PostgresDataType { .bool }
    public var postgresArrayElementText: String? { self.postgresText }
    public static var postgresArrayType: PostgresDataType { .boolArray }
    public static var postgresElementOID: UInt32? { 16 }
    @inlinable
    public func appendPostgresBinary(to bytes: inout [UInt8]) throws(PostgresBinaryRefusal) -> Bool {
        bytes.append(self ? 1 : 0)
        return true
    }
}

extension Date: PostgresBindable, PostgresArrayElement {
    /// UTC ISO 8601 with microseconds, such as `2025-01-02T03:04:05.123456Z` (Postgres keeps
    /// microseconds; finer precision is rounded).
    public var postgresText: String { PostgresTimestamp.format(self) }
    public var postgresType: PostgresDataType { .timestamptz }
    public var postgresArrayElementText: String? { "\"\(self.postgresText)\"" }
    public static var postgresArrayType: PostgresDataType { .timestamptzArray }
}

extension UTCInstant: PostgresBindable, PostgresArrayElement {
    /// As a `timestamptz`: its ``UTCInstant/unixMicroseconds`` (finer precision is truncated,
    /// as ``UTCInstant/date`` does), exact over the whole range.
    public var postgresText: String { PostgresTimestamp.format(unixMicroseconds: unixMicroseconds) }
    public var postgresType: PostgresDataType { .timestamptz }
    public var postgresArrayElementText: String? { "\"\(postgresText)\"" }
    public static var postgresArrayType: PostgresDataType { .timestamptzArray }
}

extension Optional: PostgresArrayElement where Wrapped: PostgresArrayElement {
    @inlinable
    public var postgresArrayElementText: String? { self.flatMap { $0.postgresArrayElementText } }
    public static var postgresArrayType: PostgresDataType { Wrapped.postgresArrayType }
    public static var postgresElementOID: UInt32? { Wrapped.postgresElementOID }
    @inlinable
    public func appendPostgresBinary(to bytes: inout [UInt8]) throws(PostgresBinaryRefusal) -> Bool {
        guard let self else { return false }
        return try self.appendPostgresBinary(to: &bytes)
    }
}

extension Array: PostgresBindable where Element: PostgresArrayElement {
    /// A one-dimensional array literal: `{1,2,NULL}`, `{"a","b \"c\""}`.
    @inlinable
    public var postgresText: String {
        var text = "{"
        text.reserveCapacity(2 + self.count * 8)
        var first = true
        for element in self {
            if !first { text += "," }
            first = false
            text += element.postgresArrayElementText ?? "NULL"
        }
        text += "}"
        return text
    }

    public var postgresType: PostgresDataType { Element.postgresArrayType }

    /// A one-dimensional array in the format `array_recv` reads: dimensions (1, or 0 when
    /// empty), a has-NULL flag, the element type, the length and lower bound 1, then each element
    /// as a 32-bit length (-1 for `NULL`) and its bytes. `nil` if the element type has no binary
    /// form or an element refuses one.
    @inlinable
    public var postgresBinary: [UInt8]? {
        guard let oid = Element.postgresElementOID, self.count <= Int(Int32.max) else { return nil }
        // The arrays a commit sends (thousands of elements each), in code made for their type.
        if self.count <= (Int(Int32.max) - 20) / 20 {  // the widest below: 4 + 16 bytes an element
            if Element.self == Int64?.self { return postgresBinary8(unsafeBitCast(self, to: [Int64?].self), oid: oid) { $0.map { UInt64(bitPattern: $0) } } }
            if Element.self == Int64.self { return postgresBinary8(unsafeBitCast(self, to: [Int64].self), oid: oid) { UInt64(bitPattern: $0) } }
            if Element.self == Double?.self { return postgresBinary8(unsafeBitCast(self, to: [Double?].self), oid: oid) { $0?.bitPattern } }
            if Element.self == Double.self { return postgresBinary8(unsafeBitCast(self, to: [Double].self), oid: oid) { $0.bitPattern } }
            if Element.self == PostgresUUID.self { return postgresBinaryUUID(unsafeBitCast(self, to: [PostgresUUID].self), oid: oid) }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(20 + self.count * 12)
        bytes.appendBigEndian(Int32(self.isEmpty ? 0 : 1))
        let flags = bytes.count
        bytes.appendBigEndian(Int32(0))
        bytes.appendBigEndian(oid)
        if !self.isEmpty {
            bytes.appendBigEndian(Int32(self.count))
            bytes.appendBigEndian(Int32(1))
        }
        var hasNull = false
        for element in self {
            let lengthAt = bytes.count
            bytes.appendBigEndian(Int32(0))
            do {
                if try element.appendPostgresBinary(to: &bytes) {
                    let length = bytes.count - lengthAt - 4
                    guard length <= Int(Int32.max) else { return nil }
                    bytes.withUnsafeMutableBytes { raw in
                        raw.storeBytes(of: Int32(length).bigEndian, toByteOffset: lengthAt, as: Int32.self)
                    }
                } else {
                    hasNull = true
                    bytes.withUnsafeMutableBytes { raw in
                        raw.storeBytes(of: Int32(-1).bigEndian, toByteOffset: lengthAt, as: Int32.self)
                    }
                }
            } catch {
                return nil
            }
        }
        if hasNull {
            bytes.withUnsafeMutableBytes { raw in raw.storeBytes(of: Int32(1).bigEndian, toByteOffset: flags, as: Int32.self) }
        }
        return bytes
    }
}

/// ``Array/postgresBinary`` of elements whose binary form is 8 bytes (`int8`, `float8`), `bits`
/// giving each one's (`nil`: `NULL`).
@usableFromInline
func postgresBinary8<Element>(_ elements: [Element], oid: UInt32, bits: (Element) -> UInt64?) -> [UInt8] {
    postgresBinaryFixed(elements, oid: oid, width: 8) { element, raw, offset in
        guard let value = bits(element) else { return false }
        raw.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt64.self)
        return true
    }
}

/// ``Array/postgresBinary`` of `uuid`s: each element's 16 bytes.
@usableFromInline
func postgresBinaryUUID(_ elements: [PostgresUUID], oid: UInt32) -> [UInt8] {
    postgresBinaryFixed(elements, oid: oid, width: 16) { element, raw, offset in
        raw.storeBytes(of: element.high.bigEndian, toByteOffset: offset, as: UInt64.self)
        raw.storeBytes(of: element.low.bigEndian, toByteOffset: offset + 8, as: UInt64.self)
        return true
    }
}

/// ``Array/postgresBinary`` of elements of one fixed width: the buffer sized once and each element
/// stored in place by `store` (at the offset it is given; `false`: the element is `NULL`).
@inline(__always)
func postgresBinaryFixed<Element>(_ elements: [Element], oid: UInt32, width: Int,
                                  store: (Element, UnsafeMutableRawBufferPointer, Int) -> Bool) -> [UInt8] {
    let header = elements.isEmpty ? 12 : 20
    return [UInt8](unsafeUninitializedCapacity: header + elements.count * (4 + width)) { buffer, initialized in
        let raw = UnsafeMutableRawBufferPointer(buffer)
        func word(_ value: Int32, at offset: Int) { raw.storeBytes(of: value.bigEndian, toByteOffset: offset, as: Int32.self) }
        word(elements.isEmpty ? 0 : 1, at: 0)
        raw.storeBytes(of: oid.bigEndian, toByteOffset: 8, as: UInt32.self)
        if !elements.isEmpty {
            word(Int32(elements.count), at: 12)
            word(1, at: 16)
        }
        var offset = header, hasNull = false
        for element in elements {
            if store(element, raw, offset + 4) {
                word(Int32(width), at: offset)
                offset += 4 + width
            } else {
                word(-1, at: offset)
                offset += 4
                hasNull = true
            }
        }
        word(hasNull ? 1 : 0, at: 4)
        initialized = offset
    }
}
