import UTCTime

/// A value bound to a `{name:Type}` placeholder, sent as the `param_name` URL parameter.
///
/// Values are never spliced into SQL: ClickHouse parses each `param_` value as the placeholder's
/// type, from its text form. A top-level string uses the TabSeparated escaping (backslash, tab,
/// newline, carriage return and NUL escaped); arrays and tuples are written as SQL literals
/// (`['it\'s', 'c']`) with no second layer of escaping, which is what ClickHouse parses (checked
/// against the real engine: a doubled backslash there fails with CANNOT_READ_ARRAY_FROM_TEXT).
public enum QueryParameter: Sendable, Equatable {
    case null
    case string(String)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case bool(Bool)
    /// A point in time as nanoseconds since the epoch, written in UTC with 9 fractional digits,
    /// which ClickHouse rounds to the placeholder's DateTime64 precision. Use a UTC-typed
    /// placeholder (`DateTime64(3, 'UTC')`) so the server's time zone plays no part.
    case timestamp(unixNanoseconds: Int64)
    case array([QueryParameter])
    case tuple([QueryParameter])

    /// The text sent as the URL parameter value (before percent-encoding).
    public var encoded: String {
        switch self {
        case .null: return "\\N"
        case .string(let s): return Self.escapeTopLevel(s)
        case .array, .tuple: return literal
        default: return literal
        }
    }

    /// SQL literal syntax, used inside arrays and tuples.
    var literal: String {
        switch self {
        case .null: return "NULL"
        case .string(let s): return "'" + Self.escapeQuoted(s) + "'"
        case .int(let v): return String(v)
        case .uint(let v): return String(v)
        case .double(let d):
            if d.isNaN { return "nan" }
            if d.isInfinite { return d > 0 ? "inf" : "-inf" }
            return "\(d)"
        case .bool(let b): return b ? "true" : "false"
        case .timestamp(let ns):
            // `YYYY-MM-DD hh:mm:ss.fffffffff`; top level: bare; inside arrays it is quoted below.
            return UTCInstant(unixNanoseconds: ns).clickHouseDateTime64
        case .array(let items): return "[" + items.map(\.nestedLiteral).joined(separator: ",") + "]"
        case .tuple(let items): return "(" + items.map(\.nestedLiteral).joined(separator: ",") + ")"
        }
    }

    private var nestedLiteral: String {
        if case .timestamp = self { return "'" + literal + "'" }
        return literal
    }

    /// TabSeparated escaping: backslash, tab, newline, carriage return and NUL.
    static func escapeTopLevel(_ s: String) -> String { escape(s, quote: false) }

    /// The same inside a single-quoted literal, plus the quote itself.
    static func escapeQuoted(_ s: String) -> String { escape(s, quote: true) }

    private static func escape(_ s: String, quote: Bool) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count + 2)
        for ch in s.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "'" where quote: out += "\\'"
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\0": out += "\\0"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
