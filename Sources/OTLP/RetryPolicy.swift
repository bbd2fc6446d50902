import UTCTime

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

    /// What to do after a retryable failure.
    public enum Decision: Sendable, Equatable {
        /// Wait this long, then send again.
        case retry(after: Duration)
        /// Stop now; `reason` says why (for the error message).
        case giveUp(reason: String)
    }

    /// The wait before attempt `attempt + 1` (after `attempt` failed attempts, `elapsed` since the
    /// first began), or `nil` to give up. `random` is a value in [0, 1) for the jitter.
    public func delay(afterAttempt attempt: Int, elapsed: Duration, retryAfter: Duration?, random: Double) -> Duration? {
        if case .retry(let wait) = decide(afterAttempt: attempt, elapsed: elapsed, retryAfter: retryAfter, random: random) {
            return wait
        }
        return nil
    }

    /// Whether and when to retry. All arithmetic is done in `Double` seconds and clamped before
    /// any conversion, so no `Retry-After`, backoff setting or attempt count can overflow. A
    /// `Retry-After` that asks for a wait past the remaining budget gives up at once (with a
    /// reason saying so) instead of sleeping into it.
    public func decide(afterAttempt attempt: Int, elapsed: Duration, retryAfter: Duration?, random: Double) -> Decision {
        guard attempt >= 1 else { return .retry(after: .zero) }
        let budget = max(0, seconds(maxElapsed))
        let spent = max(0, seconds(elapsed))
        let remaining = budget - spent
        if let retryAfter {
            let asked = max(0, seconds(retryAfter))
            if asked >= remaining {
                return .giveUp(reason: "the receiver asked to retry after \(Self.text(asked)) s, beyond the \(Self.text(max(0, remaining))) s left of the \(Self.text(budget)) s retry budget")
            }
        }
        let exponent = Double(min(attempt - 1, 64))
        let base = max(0, seconds(initialBackoff)) * pow(max(1, multiplier.isFinite ? multiplier : 1), exponent)
        let ceiling = min(max(0, seconds(maxBackoff)), base.isFinite ? base : .greatestFiniteMagnitude)
        var wait = ceiling * min(max(random.isFinite ? random : 0, 0), 1)  // full jitter
        if let retryAfter { wait = max(wait, max(0, seconds(retryAfter))) }
        guard wait.isFinite, wait < remaining else {
            return .giveUp(reason: "the retry budget of \(Self.text(budget)) s is spent")
        }
        // `wait < remaining <= budget`: the milliseconds fit Int64 for any budget a Duration can hold.
        return .retry(after: Duration(seconds: min(wait, 9.0e12), roundingMilliseconds: .up) ?? .zero)
    }

    static func text(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "∞" }
        if seconds >= 1e12 { return ">10^12" }
        return seconds == seconds.rounded() ? String(Int64(seconds)) : String((seconds * 10).rounded() / 10)
    }

    private func seconds(_ d: Duration) -> Double { d.inSeconds }

    private func pow(_ base: Double, _ exponent: Double) -> Double {
        var r = 1.0
        var i = 0.0
        while i < exponent { r *= base; i += 1 }
        return r
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP-date (IMF-fixdate, RFC 9110 §10.2.3).
///
/// The header is the receiver's: any text parses without a trap. Delays are capped at
/// ``maximum`` (a larger number, however many digits, reads as the cap, which the retry policy
/// then finds beyond its budget); a date in the past means "now"; anything else is ignored.
public enum RetryAfter {
    /// The longest delay a `Retry-After` is read as: one year.
    public static let maximumSeconds: Int64 = 365 * 86_400
    public static var maximum: Duration { .seconds(maximumSeconds) }

    public static func parse(_ text: String, now unixSeconds: Int64) -> Duration? {
        let value = text.trimmedSpaces
        if !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            // Digits only: compare by length first, so no count of digits can overflow.
            let significant = value.drop { $0 == "0" }
            if significant.count > 12 { return maximum }
            return .seconds(min(Int64(significant) ?? 0, maximumSeconds))
        }
        guard let date = HTTPDate.unixSeconds(imfFixdate: value) else { return nil }
        let (delta, overflow) = date.subtractingReportingOverflow(unixSeconds)
        if overflow { return date > unixSeconds ? maximum : .zero }
        return .seconds(min(max(0, delta), maximumSeconds))
    }
}

extension String {
    /// Without surrounding spaces and tabs (HTTP header values: `Retry-After`, `Content-Type`).
    var trimmedSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
