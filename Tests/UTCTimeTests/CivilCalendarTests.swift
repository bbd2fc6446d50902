import Testing
import UTCTime

@Suite("The civil calendar")
struct CivilCalendarTests {
    @Test("civil dates agree with known points, including leap days")
    func civil() {
        let leap = CivilTime(unixSeconds: 951_782_400)  // 2000-02-29
        #expect((leap.year, leap.month, leap.day) == (2000, 2, 29))
        let late = CivilTime(unixSeconds: 4_102_444_799)  // 2099-12-31 23:59:59
        #expect((late.year, late.month, late.day, late.hour, late.minute, late.second) == (2099, 12, 31, 23, 59, 59))
    }

    @Test("days and dates at the range edges and around leap days", arguments: [
        (Int64(1678), Int64(1), Int64(1), Int64(-106_650)),
        (2261, 12, 31, 106_650),
        (1970, 1, 1, 0),
        (1969, 12, 31, -1),
        (1900, 2, 28, -25_509),
        (1900, 3, 1, -25_508),  // 1900 is not a leap year
        (2000, 2, 29, 11_016),  // 2000 is
        (2000, 3, 1, 11_017),
        (2024, 2, 29, 19_782),
    ])
    func days(year: Int64, month: Int64, day: Int64, days: Int64) {
        #expect(CivilCalendar.days(year: year, month: month, day: day) == days)
        let date = CivilCalendar.date(days: days)
        #expect((date.year, date.month, date.day) == (year, month, day))
    }

    @Test("leap years and month lengths")
    func leapYears() {
        #expect(!CivilCalendar.isLeapYear(1900))
        #expect(CivilCalendar.isLeapYear(2000))
        #expect(CivilCalendar.isLeapYear(2024))
        #expect(!CivilCalendar.isLeapYear(2026))
        #expect(CivilCalendar.daysInMonth(year: 1900, month: 2) == 28)
        #expect(CivilCalendar.daysInMonth(year: 2000, month: 2) == 29)
        #expect(CivilCalendar.daysInMonth(year: 2024, month: 2) == 29)
        #expect(CivilCalendar.daysInMonth(year: 2026, month: 4) == 30)
        #expect(CivilCalendar.daysInMonth(year: 2026, month: 12) == 31)
    }

    @Test("every day from 1678 to 2261 round trips")
    func everyDay() {
        var mismatches = 0
        for days in Int64(-106_650)...106_650 {
            let d = CivilCalendar.date(days: days)
            if CivilCalendar.days(year: d.year, month: d.month, day: d.day) != days { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test("10^n saturates outside 0…18")
    func powers() {
        #expect(powerOfTen(0) == 1)
        #expect(powerOfTen(9) == 1_000_000_000)
        #expect(powerOfTen(18) == 1_000_000_000_000_000_000)
        #expect(powerOfTen(19) == 1_000_000_000_000_000_000)
        #expect(powerOfTen(-3) == 1)
    }
}

@Suite("ClickHouse DateTime64 text")
struct DateTime64TextTests {
    @Test("Int64.min and Int64.max nanoseconds")
    func extremes() {
        #expect(UTCInstant(unixNanoseconds: Int64.min).clickHouseDateTime64 == "1677-09-21 00:12:43.145224192")
        #expect(UTCInstant(unixNanoseconds: Int64.max).clickHouseDateTime64 == "2262-04-11 23:47:16.854775807")
        #expect(UTCInstant(unixNanoseconds: -1).clickHouseDateTime64 == "1969-12-31 23:59:59.999999999")
    }

    @Test("known points", arguments: [
        (Int64(0), "1970-01-01 00:00:00.000000000"),
        (1_700_000_000_123_000_000, "2023-11-14 22:13:20.123000000"),
        (-1_000_000_000, "1969-12-31 23:59:59.000000000"),
        (-9_214_560_000 * second, "1678-01-01 00:00:00.000000000"),
        (9_214_646_399 * second + 999_999_999, "2261-12-31 23:59:59.999999999"),
    ])
    func known(ns value: Int64, text: String) {
        #expect(UTCInstant(unixNanoseconds: value).clickHouseDateTime64 == text)
        // The same instant in ISO 8601 parses back to the nanosecond.
        #expect(ns(text.replacingSpace() + "Z") == value)
    }
}

extension String {
    func replacingSpace() -> String { String(prefix(10)) + "T" + String(dropFirst(11)) }
}
