/// When to send an export again, as the OTLP/HTTP specification asks: 429, 502, 503, 504 and
/// transport failures are retried with exponential backoff and full jitter, a `Retry-After` from
/// the server is honoured (never waiting less than it asks), and retrying stops once the next
/// attempt would start after `maxElapsed`.
public struct RetryPolicy: Sendable, Equatable {
    public var initialBackoff: Duration
    public var maxBackoff: Duration
    public var multiplier: Double
    /// Total time budget for one export, first attempt included. Zero disables retries.
    public var maxElapsed: Duration

    public init(
        initialBackoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(30),
        multiplier: Double = 2, maxElapsed: Duration = .seconds(300)
    ) {
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.multiplier = multiplier
        self.maxElapsed = maxElapsed
    }

    /// The HTTP statuses the OTLP/HTTP spec lists as retryable.
    public static let retryableStatuses: Set<Int> = [429, 502, 503, 504]

    /// The wait before attempt `attempt + 1` (after `attempt` failed attempts, `elapsed` since the
    /// first began), or `nil` to give up. `random` is a value in [0, 1) for the jitter.
    public func delay(afterAttempt attempt: Int, elapsed: Duration, retryAfter: Duration?, random: Double) -> Duration? {
        guard attempt >= 1 else { return .zero }
        let exponent = Double(attempt - 1)
        let ceiling = min(seconds(maxBackoff), seconds(initialBackoff) * pow(multiplier, exponent))
        var wait = ceiling * min(max(random, 0), 1)  // full jitter
        if let retryAfter { wait = max(wait, seconds(retryAfter)) }
        let next = Duration.milliseconds(Int64((wait * 1000).rounded(.up)))
        guard elapsed + next < maxElapsed else { return nil }
        return next
    }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var r = 1.0
        var i = 0.0
        while i < exponent { r *= base; i += 1 }
        return r
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP-date (IMF-fixdate, RFC 9110 §10.2.3).
public enum RetryAfter {
    public static func parse(_ text: String, now unixSeconds: Int64) -> Duration? {
        let value = text.trimmedSpaces
        if let seconds = Int64(value) { return seconds >= 0 ? .seconds(seconds) : nil }
        guard let date = parseIMFFixdate(value) else { return nil }
        return .seconds(max(0, date - unixSeconds))
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT` → Unix seconds.
    static func parseIMFFixdate(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int64(parts[1]), let year = Int64(parts[3]) else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let monthIndex = months.firstIndex(of: String(parts[2])) else { return nil }
        let time = parts[4].split(separator: ":")
        guard time.count == 3, let h = Int64(time[0]), let m = Int64(time[1]), let s = Int64(time[2]) else { return nil }
        let month = Int64(monthIndex + 1)
        // days_from_civil (Howard Hinnant)
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return days * 86_400 + h * 3600 + m * 60 + s
    }
}
