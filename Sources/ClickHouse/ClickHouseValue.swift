import UTCTime
/// One decoded value of a result row.
public enum ClickHouseValue: Sendable, Hashable {
    case null
    case int(Int64)
    case uint(UInt64)
    case float(Double)
    case bool(Bool)
    /// String, FixedString, Enum labels, UUID, IPv4 and IPv6 (in their usual text forms).
    case string(String)
    /// Date and Date32: days since 1970-01-01.
    case date(days: Int32)
    /// DateTime: seconds since the epoch.
    case dateTime(seconds: Int64)
    /// DateTime64: ticks of 10^-precision seconds since the epoch.
    case dateTime64(ticks: Int64, precision: Int)
    /// Decimal: the unscaled integer and the scale (value = units / 10^scale).
    case decimal(units: Int64, scale: Int)
    case array([ClickHouseValue])
    case tuple([ClickHouseValue])
    case map([ClickHouseValue])  // key, value, key, value, …

    public var isNull: Bool { if case .null = self { return true }; return false }

    /// Nanoseconds since the Unix epoch for date and time values.
    public var unixNanoseconds: Int64? {
        switch self {
        // Checked arithmetic: a Date32 or DateTime64 far from today does not fit in Int64
        // nanoseconds and gives nil, never a trap.
        case .date(let days): return Self.checkedProduct(Int64(days), 86_400 * 1_000_000_000)
        case .dateTime(let seconds): return Self.checkedProduct(seconds, 1_000_000_000)
        case .dateTime64(let ticks, let precision):
            guard (0...18).contains(precision) else { return nil }
            if precision > 9 { return ticks / powerOfTen(precision - 9) }
            return Self.checkedProduct(ticks, powerOfTen(9 - precision))
        default: return nil
        }
    }

    /// The value as a signed integer, when it is an integer that fits.
    public var int64: Int64? {
        switch self {
        case .int(let v): return v
        case .uint(let v): return v <= UInt64(Int64.max) ? Int64(v) : nil
        case .bool(let b): return b ? 1 : 0
        case .float(let d): return d.rounded() == d && abs(d) < 9.2e18 ? Int64(d) : nil
        case .decimal(let units, let scale): return scale == 0 ? units : nil
        default: return nil
        }
    }

    /// The value as a Double, for numeric values.
    public var double: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .float(let v): return v
        case .bool(let b): return b ? 1 : 0
        case .decimal(let units, let scale):
            if (0...18).contains(scale) { return Double(units) / Double(powerOfTen(scale)) }
            // 10^scale overflows Int64 from scale 19 on (Decimal128 allows 38): read the decimal
            // text instead, which Double rounds correctly for any scale.
            return Double("\(units)e-\(max(0, min(scale, 100_000)))") ?? 0
        default: return nil
        }
    }

    /// The value as text (strings as they are, numbers in decimal), for attribute values.
    public var text: String? {
        switch self {
        case .string(let s): return s
        case .int(let v): return String(v)
        case .uint(let v): return String(v)
        case .bool(let b): return b ? "true" : "false"
        case .float(let d): return String(d)
        default: return nil
        }
    }
}

extension ClickHouseValue {
    static func checkedProduct(_ a: Int64, _ b: Int64) -> Int64? {
        let (value, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : value
    }
}
