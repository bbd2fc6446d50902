#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import UTCTime

/// The rows a statement returned, copied out of libpq into Swift strings (text format), so they
/// outlive the result and can be passed between threads.
///
/// ```swift
/// let rows = try connection.query("SELECT pipeline, watermark FROM otel_bridge.checkpoints")
/// for row in rows {
///     let pipeline = try row.string("pipeline")
///     let watermark = try row.date("watermark")
/// }
/// ```
public struct PostgresRows: Sendable, RandomAccessCollection {
    /// The column names, in order.
    public let columns: [String]
    /// The number of rows the command affected (`INSERT`, `UPDATE`, `DELETE`, …), or 0.
    public let affectedRows: Int
    /// The SQL text, kept for error messages.
    let query: String
    private let columnIndex: [String: Int]
    private let values: [String?]

    init(columns: [String], values: [String?], affectedRows: Int, query: String) {
        self.columns = columns
        self.values = values
        self.affectedRows = affectedRows
        self.query = query
        var index: [String: Int] = [:]
        for (position, name) in columns.enumerated() where index[name] == nil {
            index[name] = position
        }
        self.columnIndex = index
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { self.columns.isEmpty ? 0 : self.values.count / self.columns.count }

    public subscript(position: Int) -> PostgresRow {
        precondition(self.indices.contains(position), "row \(position) out of range 0..<\(self.count)")
        return PostgresRow(rows: self, row: position)
    }

    /// The only row, or a ``PostgresError/Code/unexpectedResult`` error if there are none or several.
    public func single(file: String = #fileID, line: Int = #line) throws(PostgresError) -> PostgresRow {
        guard self.count == 1 else {
            throw PostgresError(
                code: .unexpectedResult, message: "expected exactly one row, got \(self.count)",
                query: self.query, file: file, line: line
            )
        }
        return self[0]
    }

    fileprivate func value(row: Int, column: String, file: String, line: Int) throws(PostgresError) -> String? {
        guard let position = self.columnIndex[column] else {
            throw PostgresError(
                code: .missingColumn,
                message: "no column \"\(column)\" in result (columns: \(self.columns.joined(separator: ", ")))",
                query: self.query, column: column, file: file, line: line
            )
        }
        return self.values[row * self.columns.count + position]
    }
}

/// One row of ``PostgresRows``, with typed accessors by column name.
///
/// Every accessor throws ``PostgresError/Code/missingColumn`` for an unknown column and
/// ``PostgresError/Code/invalidValue`` for a `NULL` (non-optional accessors) or a value that does
/// not parse as the requested type.
public struct PostgresRow: Sendable {
    fileprivate let rows: PostgresRows
    /// The row's position in its result.
    public let row: Int

    fileprivate init(rows: PostgresRows, row: Int) {
        self.rows = rows
        self.row = row
    }

    /// The raw text of a column, `nil` for `NULL`.
    public func text(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> String? {
        try self.rows.value(row: self.row, column: column, file: file, line: line)
    }

    /// Decodes a column; use an optional type (`Int64?.self`) where `NULL` is allowed.
    public func decode<Value: PostgresDecodable>(
        _ column: String, as type: Value.Type = Value.self, file: String = #fileID, line: Int = #line
    ) throws(PostgresError) -> Value {
        let text = try self.text(column, file: file, line: line)
        do {
            return try Value(postgresText: text)
        } catch {
            throw PostgresError(
                code: .invalidValue, message: error.message,
                query: self.rows.query, column: column, file: file, line: line
            )
        }
    }

    /// A `text` (or any) column as a string.
    public func string(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> String {
        try self.decode(column, file: file, line: line)
    }

    /// A `bigint`/`integer`/`smallint` column.
    public func int64(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> Int64 {
        try self.decode(column, file: file, line: line)
    }

    /// An `integer` column as `Int`.
    public func int(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> Int {
        try self.decode(column, file: file, line: line)
    }

    /// A `double precision`/`real`/`numeric` column (`NaN`, `Infinity`, `-Infinity` included).
    public func double(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> Double {
        try self.decode(column, file: file, line: line)
    }

    /// A `boolean` column.
    public func bool(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> Bool {
        try self.decode(column, file: file, line: line)
    }

    /// A `timestamptz` column (as printed with `DateStyle` ISO, which the connection sets).
    public func date(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> Date {
        try self.decode(column, file: file, line: line)
    }

    /// A one-dimensional `bigint[]` column without `NULL` elements, such as `{1,2,3}`.
    public func int64Array(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> [Int64] {
        try self.decode(column, file: file, line: line)
    }

    /// A nullable `text` column.
    public func optionalString(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> String? {
        try self.decode(column, file: file, line: line)
    }

    /// A nullable integer column.
    public func optionalInt64(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> Int64? {
        try self.decode(column, file: file, line: line)
    }

    /// A nullable `double precision` column.
    public func optionalDouble(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> Double? {
        try self.decode(column, file: file, line: line)
    }

    /// A nullable `boolean` column.
    public func optionalBool(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> Bool? {
        try self.decode(column, file: file, line: line)
    }

    /// A nullable `timestamptz` column.
    public func optionalDate(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> Date? {
        try self.decode(column, file: file, line: line)
    }

    public func instant(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> UTCInstant {
        try self.decode(column, file: file, line: line)
    }

    public func optionalInstant(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> UTCInstant? {
        try self.decode(column, file: file, line: line)
    }

    /// A nullable `bigint[]` column.
    public func optionalInt64Array(_ column: String, file: String = #fileID, line: Int = #line) throws(PostgresError) -> [Int64]? {
        try self.decode(column, file: file, line: line)
    }
}

/// Why a column's text did not decode; ``PostgresRow`` turns it into a ``PostgresError``.
public struct PostgresDecodingFailure: Error, Sendable {
    /// What went wrong, without the value itself.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    static func null(_ type: String) -> Self {
        Self("NULL where a non-optional \(type) was expected")
    }

    static func unparseable(_ type: String) -> Self {
        Self("value does not parse as \(type)")
    }
}

/// A Swift value that can be read from a column in Postgres text format.
public protocol PostgresDecodable {
    /// Decodes from the column's text; `nil` is SQL `NULL`.
    init(postgresText text: String?) throws(PostgresDecodingFailure)
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText text: String?) throws(PostgresDecodingFailure) {
        guard let text else {
            self = .none
            return
        }
        self = .some(try Wrapped(postgresText: text))
    }
}

extension String: PostgresDecodable {
    public init(postgresText text: String?) throws(PostgresDecodingFailure) {
        guard let text else { throw .null("String") }
        self = text
    }
}

extension Int64: PostgresDecodable {
    public init(postgresText text: String?) throws(PostgresDecodingFailure) {
        guard let text else { throw .null("Int64") }
        guard let value = Int64(text) else { throw .unparseable("Int64") }
        self = value
    }
}

extension Int: PostgresDecodable {
    public init(postgresText text: String?) throws(PostgresDecodingFailure) {
        guard let text else { throw .null("Int") }
        guard let value = Int(text) else { throw .unparseable("Int") }
        self = value
    }
}

extension Int32: PostgresDecodable {
    public init(postgresText text: String?) throws(PostgresDecodingFailure) {
        guard let text else { throw .null("Int32") }
        guard let value = Int32(text) else { throw .unparseable("Int32") }
        self = value
    }
}

extension Double: PostgresDecodable {
    public init(postgresText text: String?) throws(PostgresDecodingFailure) {
        guard let text else { throw .null("Double") }
        switch text {
        case "NaN": self = .nan
        case "Infinity": self = .infinity
        case "-Infinity": self = -.infinity
        default:
            // Swift's parser would also take "nan" or "inf" spellings Postgres never prints; fine.
            guard let value = Double(text) else { throw .unparseable("Double") }
            self = value
        }
    }
}

extension Bool: PostgresDecodable {
    public init(postgresText text: String?) throws(PostgresDecodingFailure) {
        switch text {
        case nil: throw .null("Bool")
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw .unparseable("Bool")
        }
    }
}

extension Date: PostgresDecodable {
    public init(postgresText text: String?) throws(PostgresDecodingFailure) {
        guard let text else { throw .null("Date") }
        guard let date = PostgresTimestamp.parse(text) else {
            throw .unparseable("Date (timestamptz in ISO style)")
        }
        self = date
    }
}

extension UTCInstant: PostgresDecodable {
    /// The microseconds of the text, exactly (``PostgresTimestamp/unixMicroseconds(parsing:)``).
    public init(postgresText text: String?) throws(PostgresDecodingFailure) {
        guard let text else { throw .null("UTCInstant") }
        guard let micros = PostgresTimestamp.unixMicroseconds(parsing: text) else {
            throw .unparseable("UTCInstant (timestamptz in ISO style)")
        }
        self.init(unixMicroseconds: micros)
    }
}

extension Array: PostgresDecodable where Element == Int64 {
    /// A one-dimensional integer array literal: `{}`, `{1,-2,3}`. `NULL` elements are an error.
    public init(postgresText text: String?) throws(PostgresDecodingFailure) {
        guard let text else { throw .null("[Int64]") }
        guard text.hasPrefix("{"), text.hasSuffix("}"), text.count >= 2 else {
            throw .unparseable("[Int64] (a one-dimensional array literal)")
        }
        let body = text.dropFirst().dropLast()
        guard !body.isEmpty else {
            self = []
            return
        }
        var values: [Int64] = []
        for element in body.split(separator: ",", omittingEmptySubsequences: false) {
            if element == "NULL" { throw PostgresDecodingFailure("NULL element in [Int64]") }
            guard let value = Int64(element) else { throw .unparseable("[Int64] (a one-dimensional array literal)") }
            values.append(value)
        }
        self = values
    }
}
