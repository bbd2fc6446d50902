#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A point in time as nanoseconds since 1970-01-01T00:00:00Z, the bridge's one instant type.
///
/// Every `Int64` is an instant (1677-09-21 … 2262-04-11); construction from calendar fields or
/// text is checked and accepts only whole years that fit, ``representableYears``.
public struct UTCInstant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var unixNanoseconds: Int64

    public init(unixNanoseconds: Int64) {
        self.unixNanoseconds = unixNanoseconds
    }

    /// The years whose every instant fits Unix nanoseconds in an `Int64`.
    public static let representableYears: ClosedRange<Int64> = 1678...2261

    /// The instant of a UTC calendar time, or `nil` unless every field is in range (`second` may
    /// be 60, a leap second, read as the next minute's first) and the year is representable.
    public init?(year: Int64, month: Int64, day: Int64, hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0, nanosecond: Int64 = 0) {
        guard Self.representableYears.contains(year), (1...12).contains(month),
              (1...CivilCalendar.daysInMonth(year: year, month: month)).contains(day),
              (0...23).contains(hour), (0...59).contains(minute), (0...60).contains(second),
              (0...999_999_999).contains(nanosecond)
        else { return nil }
        let seconds = CivilCalendar.days(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
        self.init(unixNanoseconds: seconds * 1_000_000_000 + nanosecond)
    }

    /// Whole seconds since the epoch, rounded down, and the nanoseconds past them (0…999,999,999);
    /// no overflow for any instant, `Int64.min` included.
    public var secondsAndNanoseconds: (seconds: Int64, nanoseconds: Int64) {
        let (quotient, remainder) = unixNanoseconds.quotientAndRemainder(dividingBy: 1_000_000_000)
        return remainder < 0 ? (quotient - 1, remainder + 1_000_000_000) : (quotient, remainder)
    }

    /// ISO 8601, as ``iso8601``.
    public var description: String { iso8601 }

    /// This instant moved by `seconds` (negative: earlier).
    public func adding(seconds: Int64) -> UTCInstant {
        UTCInstant(unixNanoseconds: unixNanoseconds + seconds * 1_000_000_000)
    }

    public static func < (lhs: UTCInstant, rhs: UTCInstant) -> Bool {
        lhs.unixNanoseconds < rhs.unixNanoseconds
    }

    /// The system's time now, to the microsecond.
    public static var now: UTCInstant { UTCInstant(Date()) }
}

// MARK: - Date

extension UTCInstant {
    /// The instant nearest to `date`, rounded to the microsecond (what Postgres keeps); a date
    /// beyond the ends of ``UTCInstant`` is clamped to the last whole microsecond inside, NaN is
    /// the epoch.
    public init(_ date: Date) {
        let (nanoseconds, overflow) = date.unixMicroseconds.multipliedReportingOverflow(by: 1_000)
        if overflow {
            self.init(unixNanoseconds: date.unixMicroseconds < 0 ? Int64.min / 1_000 * 1_000 : Int64.max / 1_000 * 1_000)
        } else {
            self.init(unixNanoseconds: nanoseconds)
        }
    }

    /// The date of this instant, truncated to the microsecond.
    public var date: Date { Date(unixMicroseconds: unixMicroseconds) }

    /// Microseconds since the Unix epoch, truncated toward the epoch (what a `timestamptz` keeps
    /// of an instant the bridge writes): exact, no detour through a `Double`, whose 53 bits lose
    /// the last microsecond before about 1685.
    public var unixMicroseconds: Int64 { unixNanoseconds / 1_000 }

    /// The instant `micros` microseconds after the epoch (a `timestamptz` read back), clamped to
    /// the last whole microsecond inside the ends of ``UTCInstant``.
    public init(unixMicroseconds micros: Int64) {
        let (nanoseconds, overflow) = micros.multipliedReportingOverflow(by: 1_000)
        self.init(unixNanoseconds: overflow ? (micros < 0 ? Int64.min / 1_000 * 1_000 : Int64.max / 1_000 * 1_000) : nanoseconds)
    }
}

extension Date {
    /// Seconds from 1970-01-01 to 2001-01-01, Foundation's reference date, in microseconds.
    private static let referenceOffsetMicroseconds: Int64 = 978_307_200_000_000

    /// The date of a number of microseconds since the Unix epoch.
    public init(unixMicroseconds: Int64) {
        self.init(timeIntervalSinceReferenceDate: Double(unixMicroseconds - Self.referenceOffsetMicroseconds) / 1_000_000)
    }

    /// Microseconds since the Unix epoch, rounded to the nearest; clamped to ±(Int64.max / 2)
    /// (about ±146,000 years, beyond anything Postgres stores), NaN read as the epoch, so that no
    /// date traps.
    public var unixMicroseconds: Int64 {
        let micros = (timeIntervalSinceReferenceDate * 1_000_000).rounded()
        guard !micros.isNaN else { return 0 }
        let limit = Double(Int64.max / 2)
        return Int64(min(max(micros, -limit), limit)) + Self.referenceOffsetMicroseconds
    }
}
