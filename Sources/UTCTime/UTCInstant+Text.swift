// The instant as text: ISO 8601 (configuration, logs, the command line) and ClickHouse DateTime64.

extension UTCInstant {
    /// `2026-11-29T10:00:00Z`, with `.fff…` (trailing zeros trimmed) when not whole seconds.
    public var iso8601: String {
        var text = clickHouseDateTime64
        text = String(text.prefix(10)) + "T" + String(text.dropFirst(11))
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text + "Z"
    }

    /// `YYYY-MM-DD hh:mm:ss.fffffffff` in UTC, the text ClickHouse parses as a `DateTime64(9)`
    /// (and rounds to a placeholder's precision). Any instant, `Int64.min` included.
    public var clickHouseDateTime64: String {
        let (seconds, fraction) = secondsAndNanoseconds
        let c = CivilTime(unixSeconds: seconds)
        return "\(zeroPadded(c.year, 4))-\(zeroPadded(c.month, 2))-\(zeroPadded(c.day, 2)) "
            + "\(zeroPadded(c.hour, 2)):\(zeroPadded(c.minute, 2)):\(zeroPadded(c.second, 2)).\(zeroPadded(fraction, 9))"
    }

    /// Parses ISO 8601 UTC times: `2026-11-29T10:00:00Z`, with an optional fraction (`.` or `,`,
    /// 1 to 9 digits), a `+hh:mm` offset, or a date alone; surrounding spaces (Unicode `Zs`) and
    /// tabs are ignored.
    /// `nil` unless it is one, within ``representableYears``.
    public init?(iso8601 text: String) {
        var s = Self.trimmingSpaces(text)
        var offsetSeconds: Int64 = 0
        if s.hasSuffix("Z") || s.hasSuffix("z") {
            s = s.dropLast()
        } else if s.count > 6, let signIndex = s.index(s.endIndex, offsetBy: -6, limitedBy: s.startIndex),
                  s[signIndex] == "+" || s[signIndex] == "-", s[s.index(signIndex, offsetBy: 3)] == ":" {
            let sign: Int64 = s[signIndex] == "-" ? -1 : 1
            guard let h = Int64(s[s.index(after: signIndex)..<s.index(signIndex, offsetBy: 3)]),
                  let m = Int64(s[s.index(signIndex, offsetBy: 4)...]) else { return nil }
            guard (0...23).contains(h), (0...59).contains(m) else { return nil }
            offsetSeconds = sign * (h * 3600 + m * 60)
            s = s[..<signIndex]
        }
        let parts = s.split(separator: "T", maxSplits: 1)
        guard let datePart = parts.first else { return nil }
        let d = datePart.split(separator: "-")
        guard d.count == 3, let year = Int64(d[0]), let month = Int64(d[1]), let day = Int64(d[2]),
              let midnight = UTCInstant(year: year, month: month, day: day) else { return nil }
        var seconds: Int64 = 0
        var nanos: Int64 = 0
        if parts.count == 2 {
            var timePart = parts[1]
            if let dot = timePart.firstIndex(where: { $0 == "." || $0 == "," }) {
                let digits = timePart[timePart.index(after: dot)...]
                guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy(\.isNumber), let f = Int64(digits) else { return nil }
                nanos = f * powerOfTen(9 - digits.count)
                timePart = timePart[..<dot]
            }
            let t = timePart.split(separator: ":")
            guard t.count >= 2, t.count <= 3, let h = Int64(t[0]), let mi = Int64(t[1]),
                  (0...23).contains(h), (0...59).contains(mi) else { return nil }
            let sec = t.count == 3 ? Int64(t[2]) : 0
            guard let sec, (0...60).contains(sec) else { return nil }
            seconds = h * 3600 + mi * 60 + sec
        }
        // Whole representable years keep a day's offset inside Int64 nanoseconds.
        self.init(unixNanoseconds: midnight.unixNanoseconds + (seconds - offsetSeconds) * 1_000_000_000 + nanos)
    }

    /// `text` without leading and trailing tabs and space separators.
    private static func trimmingSpaces(_ text: String) -> Substring {
        func isSpace(_ scalar: Unicode.Scalar) -> Bool { scalar == "\t" || scalar.properties.generalCategory == .spaceSeparator }
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }),
              let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return Substring(String(scalars[first...last]))
    }
}
