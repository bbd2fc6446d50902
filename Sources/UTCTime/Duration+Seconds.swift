/// Durations as the numbers configuration, timeouts and logs use: `Double` seconds in, whole
/// seconds or milliseconds out, every conversion checked so that no value traps.
extension Duration {
    /// The duration in seconds (to `Double` precision).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// The duration in milliseconds (to `Double` precision).
    public var inMilliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }

    /// Seconds as text: `5`, or `0.25` when not whole.
    public var secondsDescription: String {
        components.attoseconds == 0 ? String(components.seconds) : String(inSeconds)
    }

    /// `seconds` as a whole number of milliseconds rounded by `rule`; `nil` if it is not finite or
    /// beyond ±9·10^15 ms (about 285,000 years).
    public init?(seconds: Double, roundingMilliseconds rule: FloatingPointRoundingRule = .toNearestOrAwayFromZero) {
        let milliseconds = (seconds * 1000).rounded(rule)
        guard milliseconds.isFinite, abs(milliseconds) <= 9.0e15 else { return nil }
        self = .milliseconds(Int64(milliseconds))
    }

    /// Whole seconds, rounded up, within `range`; a negative duration counts as zero.
    public func wholeSeconds(roundingUp: Bool = true, clampedTo range: ClosedRange<Int64>) -> Int64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return Self.clamp(0, range) }
        let (rounded, overflow) = seconds.addingReportingOverflow(roundingUp && attoseconds > 0 ? 1 : 0)
        return overflow ? range.upperBound : Self.clamp(rounded, range)
    }

    /// Whole milliseconds, rounded up or down, within `range`; a negative duration counts as zero.
    public func wholeMilliseconds(roundingUp: Bool, clampedTo range: ClosedRange<Int64>) -> Int64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0, attoseconds >= 0 else { return Self.clamp(0, range) }
        let perMillisecond: Int64 = 1_000_000_000_000_000
        let fraction = roundingUp ? (attoseconds + perMillisecond - 1) / perMillisecond : attoseconds / perMillisecond
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        let (total, overflow2) = scaled.addingReportingOverflow(fraction)
        return overflow || overflow2 ? range.upperBound : Self.clamp(total, range)
    }

    private static func clamp(_ value: Int64, _ range: ClosedRange<Int64>) -> Int64 {
        min(max(value, range.lowerBound), range.upperBound)
    }
}
