import Foundation
import Testing
import UTCTime

@Suite("Postgres timestamptz text")
struct PostgresTimestampTests {
    @Test func timestampFormattingAndParsing() throws {
        let date = Date(timeIntervalSince1970: 1_700_000_000.000001)
        #expect(PostgresTimestamp.format(date) == "2023-11-14T22:13:20.000001Z")
        #expect(PostgresTimestamp.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500000Z")
        #expect(PostgresTimestamp.parse("2023-11-14 22:13:20.000001+00") == date)
        #expect(PostgresTimestamp.parse("2023-11-14T22:13:20.000001Z") == date)
        #expect(PostgresTimestamp.parse("2023-11-15 03:43:20.000001+05:30") == date)
        #expect(PostgresTimestamp.parse("2023-11-14 21:13:20.000001-01:00:00") == date)
        #expect(PostgresTimestamp.parse("2023-11-14 22:13:20+00") == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(PostgresTimestamp.parse("2023-11-14 22:13:20.0000014+00") == date)
        #expect(PostgresTimestamp.parse("infinity") == nil)
        #expect(PostgresTimestamp.parse("2023-11-14 22:13:20") == nil)
        #expect(PostgresTimestamp.parse("2023-13-14 22:13:20+00") == nil)
        #expect(PostgresTimestamp.parse("2023-11-14 22:13:20+00 BC") == nil)
    }

    @Test func extremeTimestampsDoNotTrap() {
        // Postgres's latest timestamptz is beyond Int64 microseconds since 1970: no trap, no value.
        #expect(PostgresTimestamp.parse("294276-12-31 23:59:59.999999+00") == nil)
        #expect(PostgresTimestamp.parse("999999-12-31 23:59:59+00") == nil)
        #expect(PostgresTimestamp.parse("-4713-11-24 00:00:00+00") == nil)
        #expect(PostgresTimestamp.parse("4713-11-24 00:00:00+00") != nil)
        _ = PostgresTimestamp.format(Date(timeIntervalSince1970: 1e300))
        _ = PostgresTimestamp.format(Date(timeIntervalSince1970: -1e300))
        _ = PostgresTimestamp.format(Date(timeIntervalSince1970: .nan))
        #expect(Date(timeIntervalSince1970: .nan).unixMicroseconds == 0)
    }

    /// An instant written to Postgres and read back is the same instant truncated to the
    /// microsecond, exactly, over the whole range (through a `Double` the last microsecond is lost
    /// before about 1685); within the years a bucket can have, its `date` gives the same text.
    @Test("an instant's microseconds, written and read back", arguments: [
        Int64.min, Int64.min + 999, -9_214_560_000_000_000_123, -1_001, -999, -1, 0, 1, 999, 1_000, 1_001,
        1_700_000_000_000_001_999, 1_736_000_000_123_456_789, Int64.max - 999, Int64.max,
    ])
    func instantMicroseconds(nanoseconds: Int64) throws {
        let instant = UTCInstant(unixNanoseconds: nanoseconds)
        let truncated = UTCInstant(unixNanoseconds: nanoseconds / 1_000 * 1_000)
        #expect(UTCInstant(unixMicroseconds: instant.unixMicroseconds) == truncated)
        let text = PostgresTimestamp.format(unixMicroseconds: instant.unixMicroseconds)
        #expect(PostgresTimestamp.unixMicroseconds(parsing: text) == instant.unixMicroseconds)
        if (-8_000_000_000_000_000_000...8_000_000_000_000_000_000).contains(nanoseconds) {  // 1716 … 2223
            #expect(instant.unixMicroseconds == instant.date.unixMicroseconds)
            #expect(text == PostgresTimestamp.format(instant.date))
        }
    }

    @Test("PG text → microseconds → PG text round trips", arguments: [
        ("1678-01-01T00:00:00.000000Z", Int64(-9_214_560_000_000_000)),
        ("1900-03-01T00:00:00.000000Z", -2_203_891_200_000_000),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("1970-01-01T00:00:00.000000Z", 0),
        ("2000-02-29T12:34:56.789012Z", 951_827_696_789_012),
        ("2261-12-31T23:59:59.999999Z", 9_214_646_399_999_999),
        ("4713-11-24T00:00:00.000000Z", 86_588_956_800_000_000),
    ])
    func roundTrip(text: String, micros: Int64) {
        #expect(PostgresTimestamp.unixMicroseconds(parsing: text) == micros)
        #expect(PostgresTimestamp.format(unixMicroseconds: micros) == text)
        #expect(PostgresTimestamp.unixMicroseconds(parsing: text.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "+00")) == micros)
        #expect(PostgresTimestamp.format(Date(unixMicroseconds: micros)) == text)
        #expect(Date(unixMicroseconds: micros).unixMicroseconds == micros)
    }
}

@Suite("Dates and instants")
struct DateConversionTests {
    @Test("times survive the Date round trip of the checkpoint store", arguments: [T, T + 123_456_000, Int64(0), -60 * second])
    func dateRoundTrip(ns value: Int64) {
        #expect(UTCInstant(UTCInstant(unixNanoseconds: value).date).unixNanoseconds == value)
    }

    @Test("dates beyond the instant's range clamp to its last whole microsecond")
    func clamps() {
        #expect(UTCInstant(Date(timeIntervalSince1970: 1e300)).unixNanoseconds == Int64.max / 1_000 * 1_000)
        #expect(UTCInstant(Date(timeIntervalSince1970: -1e300)).unixNanoseconds == Int64.min / 1_000 * 1_000)
        #expect(UTCInstant(Date(timeIntervalSince1970: 1.5)).unixNanoseconds == 1_500_000_000)
        #expect(UTCInstant(unixNanoseconds: 1_999).date == Date(unixMicroseconds: 1))
        #expect(UTCInstant(unixNanoseconds: -1_999).date == Date(unixMicroseconds: -1))
    }
}
