#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `timestamptz` text in and out, without `DateFormatter` and without the process's time zone.
///
/// Values are microseconds since the Unix epoch, exact to the microsecond (what Postgres
/// stores), over a wider range than ``UTCInstant``: Postgres keeps years up to 294276.
public enum PostgresTimestamp {
    private static let microsPerSecond: Int64 = 1_000_000
    private static let microsPerDay: Int64 = 86_400_000_000

    /// `2025-01-02T03:04:05.123456Z`.
    public static func format(unixMicroseconds micros: Int64) -> String {
        var days = micros / Self.microsPerDay
        var rest = micros % Self.microsPerDay
        if rest < 0 {
            rest += Self.microsPerDay
            days -= 1
        }
        let (year, month, day) = CivilCalendar.date(days: days)
        let seconds = rest / Self.microsPerSecond
        let fraction = rest % Self.microsPerSecond
        return "\(zeroPadded(year, 4))-\(zeroPadded(month, 2))-\(zeroPadded(day, 2))T"
            + "\(zeroPadded(seconds / 3600, 2)):\(zeroPadded(seconds / 60 % 60, 2)):\(zeroPadded(seconds % 60, 2))"
            + ".\(zeroPadded(fraction, 6))Z"
    }

    /// Parses `timestamptz` output in ISO style: `2025-01-02 03:04:05.123456+00`, also with `T`,
    /// `Z`, `+05:30` or `-03:00:00` offsets and 1 to 9 fraction digits (rounded to the
    /// microsecond). `nil` if it is not one, or if it lies beyond ±(Int64.max / 2) microseconds.
    public static func unixMicroseconds(parsing text: String) -> Int64? {
        var scanner = Scanner(Array(text.utf8))
        guard
            let year = scanner.digits(min: 4, max: 6), scanner.skip(UInt8(ascii: "-")),
            let month = scanner.digits(min: 2, max: 2), scanner.skip(UInt8(ascii: "-")),
            let day = scanner.digits(min: 2, max: 2),
            scanner.skip(UInt8(ascii: " ")) || scanner.skip(UInt8(ascii: "T")),
            let hour = scanner.digits(min: 2, max: 2), scanner.skip(UInt8(ascii: ":")),
            let minute = scanner.digits(min: 2, max: 2), scanner.skip(UInt8(ascii: ":")),
            let second = scanner.digits(min: 2, max: 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }

        var fractionMicros: Int64 = 0
        if scanner.skip(UInt8(ascii: ".")) {
            let start = scanner.index
            guard let digits = scanner.digits(min: 1, max: 9) else { return nil }
            let count = scanner.index - start
            if count <= 6 {
                fractionMicros = digits * powerOfTen(6 - count)
            } else {
                // Round to the microsecond.
                let divisor = powerOfTen(count - 6)
                fractionMicros = (digits + divisor / 2) / divisor
            }
        }

        var offsetSeconds: Int64 = 0
        if scanner.skip(UInt8(ascii: "Z")) {
            offsetSeconds = 0
        } else {
            let sign: Int64
            if scanner.skip(UInt8(ascii: "+")) {
                sign = 1
            } else if scanner.skip(UInt8(ascii: "-")) {
                sign = -1
            } else {
                return nil
            }
            guard let hours = scanner.digits(min: 2, max: 2) else { return nil }
            var minutes: Int64 = 0
            var seconds: Int64 = 0
            if scanner.skip(UInt8(ascii: ":")) {
                guard let value = scanner.digits(min: 2, max: 2) else { return nil }
                minutes = value
                if scanner.skip(UInt8(ascii: ":")) {
                    guard let value = scanner.digits(min: 2, max: 2) else { return nil }
                    seconds = value
                }
            }
            offsetSeconds = sign * (hours * 3600 + minutes * 60 + seconds)
        }
        guard scanner.atEnd else { return nil }

        let days = CivilCalendar.days(year: year, month: month, day: day)
        let localSeconds = days * 86_400 + hour * 3600 + minute * 60 + second
        // Years up to 999999 fit in seconds, not always in microseconds: nil, not a trap.
        let (scaled, overflow) = (localSeconds - offsetSeconds).multipliedReportingOverflow(by: Self.microsPerSecond)
        let (micros, overflow2) = scaled.addingReportingOverflow(fractionMicros)
        guard !overflow, !overflow2, micros.magnitude <= UInt64(Int64.max / 2) else { return nil }
        return micros
    }

    /// ``format(unixMicroseconds:)`` of a date, rounded to the microsecond (never a trap).
    public static func format(_ date: Date) -> String {
        format(unixMicroseconds: date.unixMicroseconds)
    }

    /// ``unixMicroseconds(parsing:)`` as a date.
    public static func parse(_ text: String) -> Date? {
        unixMicroseconds(parsing: text).map(Date.init(unixMicroseconds:))
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        var atEnd: Bool { self.index == self.bytes.count }

        mutating func skip(_ byte: UInt8) -> Bool {
            guard self.index < self.bytes.count, self.bytes[self.index] == byte else { return false }
            self.index += 1
            return true
        }

        mutating func digits(min: Int, max: Int) -> Int64? {
            var value: Int64 = 0
            var count = 0
            while count < max, self.index < self.bytes.count,
                  (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index]) {
                value = value * 10 + Int64(self.bytes[self.index] - UInt8(ascii: "0"))
                self.index += 1
                count += 1
            }
            return count >= min ? value : nil
        }
    }
}
