/// The proleptic Gregorian calendar in UTC, done once: days since 1970-01-01 from a civil date and
/// back (Howard Hinnant's `days_from_civil` / `civil_from_days`).
///
/// Exact for every day whose number fits an `Int64` with room for the era arithmetic; callers keep
/// their fields in range (years of at most six digits, months 1…12).
public enum CivilCalendar {
    /// Days since 1970-01-01 of `year`-`month`-`day` (1970-01-01 is 0, earlier days are negative).
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil date of a day number (the inverse of ``days(year:month:day:)``).
    public static func date(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Whether February of `year` has 29 days.
    public static func isLeapYear(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    /// The number of days in `month` (1…12) of `year`.
    public static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// Calendar fields of a Unix time in UTC.
public struct CivilTime: Sendable, Equatable {
    public var year, month, day, hour, minute, second: Int64

    /// The fields of `unixSeconds` (floor division: times before 1970 fall on the right day).
    public init(unixSeconds: Int64) {
        var days = unixSeconds / 86_400
        var secs = unixSeconds % 86_400
        if secs < 0 {
            secs += 86_400
            days -= 1
        }
        hour = secs / 3600
        minute = secs % 3600 / 60
        second = secs % 60
        (year, month, day) = CivilCalendar.date(days: days)
    }
}

/// 10^`exponent` for exponents 0…18; outside that range it saturates (1 below, 10^18 above)
/// instead of trapping, so callers check the range they mean.
public func powerOfTen(_ exponent: Int) -> Int64 {
    var value: Int64 = 1
    for _ in 0..<min(max(0, exponent), 18) { value *= 10 }
    return value
}

/// `value` in decimal, left-padded with zeros to `width` digits.
func zeroPadded(_ value: Int64, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
