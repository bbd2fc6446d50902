import Bridge
import Checkpoints
import UTCTime

/// A pipeline stuck on a refused request: the receiver answers its oldest batch with a
/// non-retryable status (a 400 for samples older than the backend takes, say), the watermark does
/// not move, and every pass fails the same way until an operator acts. `checkpoints show` and
/// `validate` say so, with the receiver's message, since when, and the remedy.
public struct Wedge: Sendable, Equatable {
    public var pipeline: String
    /// The start of the first failed run since the last successful one.
    public var since: UTCInstant
    /// The error of the last run: the receiver's status and message.
    public var message: String

    /// What ends it: a maximum point age, or skipping the backlog.
    public var remedy: String {
        "if the receiver refuses old or out-of-order points, set max_point_age for the pipeline (docs/operations.md gives the value per backend) "
            + "or skip the backlog: otel-bridge checkpoints rewind \(pipeline) --skip-ahead"
    }

    /// The wedge of `status`, if its runs fail on a request the receiver refused.
    public init?(_ status: PipelineStatus) {
        guard status.consecutiveFailures > 0, let error = status.lastError, error.contains("rejected by the receiver"),
              let since = status.failingSince ?? status.lastErrorAt else { return nil }
        self.pipeline = status.pipeline
        self.since = since
        self.message = error
    }

    /// `stuck since … (for …) on a refused request: …; remedy: …`.
    public func description(now: Int64) -> String {
        let seconds = max(0, (now - since.unixNanoseconds) / 1_000_000_000)
        let duration = seconds >= 3_600 ? "\(seconds / 3_600)h \(seconds % 3_600 / 60)m" : "\(seconds / 60)m \(seconds % 60)s"
        return "stuck since \(since.iso8601) (for \(duration)) on a refused request: \(message); \(remedy)"
    }
}
