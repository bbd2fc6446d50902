#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `timestamptz` text in and out, without `DateFormatter` and without the process's time zone.
///
/// Values are exact to the microsecond, which is what Postgres stores.
enum PostgresTimestamp {
    private static let microsPerSecond: Int64 = 1_000_000
    private static let microsPerDay: Int64 = 86_400_000_000
    /// Seconds from 1970-01-01 to 2001-01-01, Foundation's reference date.
    private static let referenceOffsetMicros: Int64 = 978_307_200_000_000

    /// Microseconds since the Unix epoch, rounded to the nearest microsecond; clamped to what
    /// Postgres can store (about ±290,000 years), NaN read as the epoch, so that no date traps.
    static func unixMicros(_ date: Date) -> Int64 {
        let micros = (date.timeIntervalSinceReferenceDate * 1_000_000).rounded()
        guard !micros.isNaN else { return 0 }
        let limit = Double(Int64.max / 2)
        return Int64(min(max(micros, -limit), limit)) + Self.referenceOffsetMicros
    }

    /// The date nearest to a number of microseconds since the Unix epoch.
    static func date(unixMicros: Int64) -> Date {
        Date(timeIntervalSinceReferenceDate: Double(unixMicros - Self.referenceOffsetMicros) / 1_000_000)
    }

    /// `2025-01-02T03:04:05.123456Z`.
    static func format(_ date: Date) -> String {
        let micros = Self.unixMicros(date)
        var days = micros / Self.microsPerDay
        var rest = micros % Self.microsPerDay
        if rest < 0 {
            rest += Self.microsPerDay
            days -= 1
        }
        let (year, month, day) = Self.civil(fromDays: days)
        let seconds = rest / Self.microsPerSecond
        let fraction = rest % Self.microsPerSecond
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T"
            + "\(pad(seconds / 3600, 2)):\(pad(seconds / 60 % 60, 2)):\(pad(seconds % 60, 2))"
            + ".\(pad(fraction, 6))Z"
    }

    /// Parses `timestamptz` output in ISO style: `2025-01-02 03:04:05.123456+00`, also with `T`,
    /// `Z`, `+05:30` or `-03:00:00` offsets and 1 to 9 fraction digits. `nil` if it is not one.
    static func parse(_ text: String) -> Date? {
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
                fractionMicros = digits * Self.powerOfTen(6 - count)
            } else {
                // Round to the microsecond.
                let divisor = Self.powerOfTen(count - 6)
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

        let days = Self.days(fromCivil: year, month, day)
        let localSeconds = days * 86_400 + hour * 3600 + minute * 60 + second
        // Years up to 999999 fit in seconds, not always in microseconds: nil, not a trap.
        let (scaled, overflow) = (localSeconds - offsetSeconds).multipliedReportingOverflow(by: Self.microsPerSecond)
        let (micros, overflow2) = scaled.addingReportingOverflow(fractionMicros)
        guard !overflow, !overflow2, micros.magnitude <= UInt64(Int64.max / 2) else { return nil }
        return Self.date(unixMicros: micros)
    }

    // Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar).

    private static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private static func powerOfTen(_ exponent: Int) -> Int64 {
        var value: Int64 = 1
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
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
