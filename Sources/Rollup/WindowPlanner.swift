import ClickHouse
import Foundation

/// A half-open time range `[start, end)` in Unix nanoseconds.
public struct TimeWindow: Sendable, Equatable, CustomStringConvertible {
    public var start: Int64
    public var end: Int64

    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }

    public var description: String {
        "[\(Timestamp.iso8601(start)), \(Timestamp.iso8601(end)))"
    }
}

/// Which buckets a pass exports: the closed buckets `[t, t+step)` since the watermark, aligned to
/// the Unix epoch, where closed means `t + step <= now - lag`; split into query chunks of at most
/// `maxBucketsPerQuery` buckets so a long backlog never becomes one giant query.
public struct WindowPlanner: Sendable, Equatable {
    public var stepSeconds: Int64
    public var lagSeconds: Int64
    public var maxBucketsPerQuery: Int

    public init(stepSeconds: Int64, lagSeconds: Int64, maxBucketsPerQuery: Int) {
        precondition(stepSeconds > 0 && lagSeconds >= 0 && maxBucketsPerQuery > 0)
        self.stepSeconds = stepSeconds
        self.lagSeconds = lagSeconds
        self.maxBucketsPerQuery = maxBucketsPerQuery
    }

    var step: Int64 { stepSeconds * 1_000_000_000 }

    /// `t` rounded down to a bucket boundary.
    public func alignDown(_ t: Int64) -> Int64 {
        let r = t % step
        return r >= 0 ? t - r : t - r - step
    }

    /// The first watermark of a pipeline without checkpoint: `start` aligned down.
    public func initialWatermark(_ start: Int64) -> Int64 { alignDown(start) }

    /// The end of the last closed bucket at `now`.
    public func closedUntil(now: Int64) -> Int64 {
        alignDown(now - lagSeconds * 1_000_000_000)
    }

    /// The query chunks of one pass from `watermark` until every closed bucket is covered. The
    /// watermark must be a bucket boundary (the bridge refuses one that is not, since rounding it
    /// down would export part of a bucket again); it is aligned down here only defensively.
    public func chunks(watermark: Int64, now: Int64) -> [TimeWindow] {
        let from = alignDown(watermark)
        let until = closedUntil(now: now)
        guard until > from else { return [] }
        var result: [TimeWindow] = []
        let span = step * Int64(maxBucketsPerQuery)
        var start = from
        while start < until {
            let end = min(start + span, until)
            result.append(TimeWindow(start: start, end: end))
            start = end
        }
        return result
    }

    /// Whether `t` is a bucket boundary.
    public func isAligned(_ t: Int64) -> Bool { t % step == 0 }
}

/// Unix-nanosecond timestamps as text, without Foundation's formatters.
public enum Timestamp {
    /// `2026-11-29T10:00:00Z` (with `.fff…` when not whole seconds).
    public static func iso8601(_ ns: Int64) -> String {
        var text = ClickHouse.QueryParameter.formatUTC(unixNanoseconds: ns)
        // "YYYY-MM-DD hh:mm:ss.fffffffff" → ISO 8601.
        text = text.replacingOccurrences(of: " ", with: "T")
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text + "Z"
    }

    /// Parses ISO 8601 UTC times: `2026-11-29T10:00:00Z`, with optional fraction, `+00:00`
    /// offsets, or a date alone. Returns Unix nanoseconds.
    public static func parse(_ text: String) -> Int64? {
        var s = Substring(text.trimmingCharacters(in: .whitespaces))
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
        // Unix nanoseconds in an Int64 reach from 1677-09-21 to 2262-04-11: whole years inside.
        guard d.count == 3, let year = Int64(d[0]), let month = Int64(d[1]), let day = Int64(d[2]),
              representableYears.contains(year),
              (1...12).contains(month), (1...daysInMonth(year: year, month: month)).contains(day) else { return nil }
        var seconds: Int64 = 0
        var nanos: Int64 = 0
        if parts.count == 2 {
            var timePart = parts[1]
            if let dot = timePart.firstIndex(where: { $0 == "." || $0 == "," }) {
                let digits = timePart[timePart.index(after: dot)...]
                guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy(\.isNumber), let f = Int64(digits) else { return nil }
                nanos = f * pow10(9 - digits.count)
                timePart = timePart[..<dot]
            }
            let t = timePart.split(separator: ":")
            guard t.count >= 2, t.count <= 3, let h = Int64(t[0]), let mi = Int64(t[1]),
                  (0...23).contains(h), (0...59).contains(mi) else { return nil }
            let sec = t.count == 3 ? Int64(t[2]) : 0
            guard let sec, (0...60).contains(sec) else { return nil }
            seconds = h * 3600 + mi * 60 + sec
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        return (days * 86_400 + seconds - offsetSeconds) * 1_000_000_000 + nanos
    }

    /// The years `parse` accepts: every instant in them fits Unix nanoseconds in an Int64.
    public static let representableYears: ClosedRange<Int64> = 1678...2261

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func pow10(_ n: Int) -> Int64 {
        var r: Int64 = 1
        for _ in 0..<n { r *= 10 }
        return r
    }
}


/// The values of `{window_start}`, `{window_end}` and `{step_seconds}`, written for the type each
/// placeholder declares, so a template chooses its types and the server's time zone plays no part.
enum WindowParameters {
    /// Time placeholders must be DateTime or DateTime64 in UTC, or an integer (Unix seconds).
    static func checkTimeType(_ placeholder: PipelineConfiguration.Placeholder, file: String) throws(BridgeError) {
        let type = placeholder.type.replacingOccurrences(of: " ", with: "")
        if type.hasPrefix("DateTime64(") || type.hasPrefix("DateTime(") {
            guard type.contains("'UTC'") else {
                throw BridgeError(.template, "declare {\(placeholder.name):\(placeholder.type)} with the 'UTC' time zone (for example DateTime64(3, 'UTC')), so the server's time zone plays no part",
                                  file: file, key: placeholder.name)
            }
            return
        }
        if ["UInt32", "UInt64", "Int64", "Int32"].contains(type) { return }
        throw BridgeError(.template, "{\(placeholder.name)} must be DateTime64(p, 'UTC'), DateTime('UTC') or an integer of Unix seconds, not \(placeholder.type)",
                          file: file, key: placeholder.name)
    }

    static func values(for pipeline: PipelineConfiguration, window: TimeWindow) -> [(name: String, value: QueryParameter)] {
        var out: [(name: String, value: QueryParameter)] = []
        for p in pipeline.placeholders {
            switch p.name {
            case "window_start": out.append((p.name, time(window.start, type: p.type)))
            case "window_end": out.append((p.name, time(window.end, type: p.type)))
            case "step_seconds": out.append((p.name, .int(pipeline.stepSeconds)))
            default: break
            }
        }
        return out + pipeline.parameters
    }

    static func time(_ ns: Int64, type: String) -> QueryParameter {
        let compact = type.replacingOccurrences(of: " ", with: "")
        let full = QueryParameter.formatUTC(unixNanoseconds: ns)  // YYYY-MM-DD hh:mm:ss.fffffffff
        if compact.hasPrefix("DateTime64(") {
            let digits = Int(compact.dropFirst("DateTime64(".count).prefix { $0.isNumber }) ?? 3
            return .string(digits == 0 ? String(full.prefix(19)) : String(full.prefix(20 + digits)))
        }
        if compact.hasPrefix("DateTime") { return .string(String(full.prefix(19))) }
        return .int(ns / 1_000_000_000)
    }
}
