import Testing
import UTCTime

let second: Int64 = 1_000_000_000
/// 2026-11-29T10:00:00Z.
let T: Int64 = 1_795_946_400 * second

func iso(_ ns: Int64) -> String { UTCInstant(unixNanoseconds: ns).iso8601 }
func ns(_ text: String) -> Int64? { UTCInstant(iso8601: text)?.unixNanoseconds }

@Suite("ISO 8601 UTC text")
struct ISO8601Tests {
    static let valid: [(String, Int64)] = [
        ("2026-11-29T10:00:00Z", T),
        ("2026-11-29T10:00:00z", T),
        ("2026-11-29T10:00:00", T),
        (" 2026-11-29T10:00:00Z ", T),
        ("\t2026-11-29T10:00:00Z\u{00A0}", T),
        ("2026-11-29T10:00Z", T),
        ("2026-11-29T10:00:00.5Z", T + 500_000_000),
        ("2026-11-29T10:00:00.123Z", T + 123_000_000),
        ("2026-11-29T10:00:00,25Z", T + 250_000_000),
        ("2026-11-29T10:00:00.123456789Z", T + 123_456_789),
        ("2026-11-29T12:00:00+02:00", T),
        ("2026-11-29T05:30:00-04:30", T),
        ("2026-11-29T12:00:00.5+02:00", T + 500_000_000),
        ("2026-11-29T10:00:00+00:00", T),
        ("2026-11-29", T - 10 * 3_600 * second),
        ("2026-11-01T00:00:00Z", 1_793_491_200 * second),
        ("2024-02-29T00:00:00Z", 1_709_164_800 * second),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59Z", -second),
    ]

    @Test("parses UTC times, fractions, offsets and dates", arguments: valid)
    func parses(text: String, expected: Int64) {
        #expect(ns(text) == expected)
    }

    @Test("rejects what is not a valid time", arguments: [
        "", "garbage", "yesterday", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-32T00:00:00Z",
        "2026-11-00", "2026-11-29T24:00:00Z", "2026-11-29T10:60:00Z", "2026-11-29T10:00:61Z",
        "2026-11-29T10Z", "2026-11-29T10:00:00.Z", "2026-11-29T10:00:00.1234567890Z", "2026-11-29T10:00:00.12aZ",
        "2026-11-29T10:00:00+0200", "2026/11/29", "29-11-2026", "1795946400",
        "2026-11-29T10:00:00Z\n",
    ])
    func rejects(text: String) {
        #expect(ns(text) == nil)
    }

    @Test("rejects days that do not exist in their month", arguments: [
        "2026-02-30", "2026-02-29T00:00:00Z", "2026-04-31T12:00:00Z", "1900-02-29", "2100-02-29T00:00:00Z",
    ])
    func rejectsImpossibleDays(text: String) {
        #expect(ns(text) == nil)
    }

    @Test("formats whole seconds without a fraction and trims trailing zeros", arguments: [
        (T, "2026-11-29T10:00:00Z"),
        (T + 123_000_000, "2026-11-29T10:00:00.123Z"),
        (T + 1, "2026-11-29T10:00:00.000000001Z"),
        (Int64(0), "1970-01-01T00:00:00Z"),
        (-second, "1969-12-31T23:59:59Z"),
    ])
    func formats(ns value: Int64, text: String) {
        #expect(iso(value) == text)
        #expect(ns(text) == value)
    }

    @Test("the representable years end where Int64 nanoseconds do", arguments: [
        ("1678-01-01T00:00:00Z", -9_214_560_000 * second),
        ("1678-01-01", -9_214_560_000 * second),
        ("2261-12-31T23:59:59Z", 9_214_646_399 * second),
        ("2261-12-31T23:59:59.999999999Z", 9_214_646_399 * second + 999_999_999),
        ("1678-01-01T00:00:00+23:59", -9_214_560_000 * second - (23 * 3600 + 59 * 60) * second),
        ("2261-12-31T23:59:60-23:59", (9_214_646_400 + 23 * 3600 + 59 * 60) * second),
    ])
    func rangeEdges(text: String, expected: Int64) {
        #expect(ns(text) == expected)
    }

    @Test("years outside 1678…2261 are refused, not trapped on", arguments: [
        "1677-12-31T23:59:59Z", "2262-01-01T00:00:00Z", "9999-12-31", "0000-01-01", "-0001-01-01",
        "99999999999999999999-01-01", "1677-09-21T00:12:44Z",
    ])
    func outsideTheRange(text: String) {
        #expect(ns(text) == nil)
        #expect(UTCInstant.representableYears == 1678...2261)
    }

    @Test("the ends of Int64 format without trapping")
    func extremes() {
        #expect(iso(Int64.min) == "1677-09-21T00:12:43.145224192Z")
        #expect(iso(Int64.max) == "2262-04-11T23:47:16.854775807Z")
        #expect(iso(-1) == "1969-12-31T23:59:59.999999999Z")
    }

    @Test("ISO → nanoseconds → ISO round trips", arguments: [
        "1678-01-01T00:00:00Z", "1900-02-28T23:59:59.5Z", "1900-03-01T00:00:00Z", "2000-02-29T00:00:00Z",
        "2024-02-29T12:00:00.000000001Z", "2024-12-31T23:59:59.999Z", "2261-12-31T23:59:59.999999999Z",
    ])
    func roundTrip(text: String) throws {
        let value = try #require(ns(text))
        #expect(iso(value) == text)
        #expect(UTCInstant(unixNanoseconds: value).description == text)
    }

    @Test("calendar fields construct the same instants as the text")
    func fields() {
        #expect(UTCInstant(year: 2026, month: 11, day: 29, hour: 10)?.unixNanoseconds == T)
        #expect(UTCInstant(year: 2024, month: 2, day: 29, nanosecond: 1)?.unixNanoseconds == 1_709_164_800 * second + 1)
        #expect(UTCInstant(year: 1900, month: 2, day: 29) == nil)
        #expect(UTCInstant(year: 2026, month: 11, day: 29, nanosecond: 1_000_000_000) == nil)
        #expect(UTCInstant(year: 1677, month: 12, day: 31) == nil)
        #expect(UTCInstant(year: 2262, month: 1, day: 1) == nil)
        #expect(UTCInstant(unixNanoseconds: -1) < UTCInstant(unixNanoseconds: 0))
    }
}
