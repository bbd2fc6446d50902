/// The HTTP-date of headers such as `Retry-After`, in its only current form, the IMF-fixdate
/// (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
public enum HTTPDate {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Unix seconds of an IMF-fixdate; `nil` unless every field is in range. Any text parses
    /// without a trap: a 4-digit year keeps every product far inside Int64. (The weekday is not
    /// checked.)
    public static func unixSeconds(imfFixdate text: String) -> Int64? {
        let parts = text.split(separator: " ")
        func number(_ s: Substring, digits: ClosedRange<Int>) -> Int64? {
            guard digits.contains(s.utf8.count), s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int64(s)
        }
        guard parts.count == 6, parts[5] == "GMT", let day = number(parts[1], digits: 1...2),
              let year = number(parts[3], digits: 4...4), (1...31).contains(day) else { return nil }
        guard let monthIndex = months.firstIndex(of: String(parts[2])) else { return nil }
        let time = parts[4].split(separator: ":")
        guard time.count == 3, let h = number(time[0], digits: 2...2), let m = number(time[1], digits: 2...2),
              let s = number(time[2], digits: 2...2), h < 24, m < 60, s < 61 else { return nil }
        let days = CivilCalendar.days(year: year, month: Int64(monthIndex + 1), day: day)
        return days * 86_400 + h * 3600 + m * 60 + s
    }
}
