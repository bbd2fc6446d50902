import Foundation
import Logging
import Synchronization

/// Told how far a pass has got; decides itself what to show and how often.
public protocol PassProgress: Sendable {
    /// A pass of `pipeline` begins with `total` buckets to export (0: nothing to do).
    func began(pipeline: String, total: Int)
    /// `done` buckets of the pass are committed so far (monotonic), `rows`/`points` so far.
    func advanced(pipeline: String, done: Int, rows: Int64, points: Int64)
    /// The pass ended (successfully or not).
    func ended(pipeline: String)
}

/// A monotonic clock for progress: the time elapsed since some fixed instant. Injected so tests
/// move it by hand.
public typealias ProgressClock = @Sendable () -> Duration

/// The process's monotonic clock, as a ``ProgressClock``.
public let systemProgressClock: ProgressClock = {
    let start = ContinuousClock.now
    return { ContinuousClock.now - start }
}()

/// What a pass's progress looks like where the process runs.
public enum ProgressDisplay: Sendable, Equatable {
    /// A bar redrawn in place on stderr (a person watches a terminal).
    case bar
    /// A log line at a bounded rate (a job's log, or JSON logs: collectors want whole lines).
    case logLines
    /// Nothing (`--no-progress`).
    case none

    /// The bar only on a terminal that can redraw a line (stderr is a TTY, `TERM` is not `dumb`)
    /// and with text logs; log lines otherwise; nothing when progress is turned off.
    public static func choose(format: LogFormat, stderrIsTerminal: Bool, term: String?, enabled: Bool = true) -> ProgressDisplay {
        guard enabled else { return .none }
        guard format == .text, stderrIsTerminal, term != "dumb" else { return .logLines }
        return .bar
    }

    /// Chooses from this process's stderr and environment.
    public static func forThisProcess(format: LogFormat, environment: [String: String], enabled: Bool = true) -> ProgressDisplay {
        choose(format: format, stderrIsTerminal: isatty(STDERR_FILENO) != 0, term: environment["TERM"], enabled: enabled)
    }

    /// The reporter for this display. `logger` is where log lines go (it carries the process's
    /// format and redaction); the bar draws on stderr between log lines (see
    /// ``StatusLineAwareLogHandler``).
    public func makeReporter(logger: Logger, clock: @escaping ProgressClock = systemProgressClock) -> any PassProgress {
        switch self {
        case .bar: TerminalProgressBar(clock: clock, width: TerminalStatusLine.columns())
        case .logLines: LogLineProgress(logger: logger, clock: clock)
        case .none: NoProgress()
        }
    }
}

/// Shows nothing.
public struct NoProgress: PassProgress {
    public init() {}
    public func began(pipeline: String, total: Int) {}
    public func advanced(pipeline: String, done: Int, rows: Int64, points: Int64) {}
    public func ended(pipeline: String) {}
}

/// Where one pass stands: what a bar or a log line shows, computed without side effects.
public struct PassProgressState: Sendable, Equatable {
    public var pipeline: String
    public var total: Int
    public var done = 0
    public var rows: Int64 = 0
    public var points: Int64 = 0
    /// When the pass began (``ProgressClock`` time).
    public var began: Duration

    public init(pipeline: String, total: Int, began: Duration) {
        self.pipeline = pipeline
        self.total = max(0, total)
        self.began = began
    }

    public var fraction: Double { total == 0 ? 1 : Double(min(done, total)) / Double(total) }
    public var percent: Int { Int((fraction * 100).rounded(.down)) }

    /// Buckets per second since the pass began; nil before the first bucket or the first
    /// millisecond.
    public func rate(at now: Duration) -> Double? {
        let seconds = (now - began).secondsValue
        guard done > 0, seconds >= 0.001 else { return nil }
        return Double(done) / seconds
    }

    /// The time left at the rate so far; nil while the rate is unknown, zero once done.
    public func remaining(at now: Duration) -> Duration? {
        if done >= total { return .zero }
        guard let rate = rate(at: now), rate > 0 else { return nil }
        let seconds = Double(total - done) / rate
        return seconds < 1e9 ? .milliseconds(Int64((seconds * 1000).rounded())) : nil
    }

    /// `720/1440 buckets (50%), 6.0 buckets/s, 2m00s left` (`…, rate unknown` at first).
    public func summary(at now: Duration) -> String {
        var text = "\(done)/\(total) buckets (\(percent)%)"
        if let rate = rate(at: now) {
            text += ", " + Self.formatRate(rate)
            if done < total, let left = remaining(at: now) { text += ", " + Self.formatDuration(left) + " left" }
        }
        return text
    }

    /// `12 buckets/s`, `2.5 buckets/s`, `0.25 buckets/s`, `4.0 buckets/min` below 0.1 per second.
    public static func formatRate(_ perSecond: Double) -> String {
        if perSecond >= 10 { return "\(Int(perSecond.rounded())) buckets/s" }
        if perSecond >= 1 { return String(format: "%.1f buckets/s", perSecond) }
        if perSecond >= 0.1 { return String(format: "%.2f buckets/s", perSecond) }
        return String(format: "%.1f buckets/min", perSecond * 60)
    }

    /// `42s`, `3m05s`, `2h07m`, `3d04h`.
    public static func formatDuration(_ d: Duration) -> String {
        let s = max(0, Int64(d.secondsValue.rounded()))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" + pad2(s % 60) + "s" }
        if s < 86400 { return "\(s / 3600)h" + pad2(s % 3600 / 60) + "m" }
        return "\(s / 86400)d" + pad2(s % 86400 / 3600) + "h"
    }

    static func pad2(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

extension Duration {
    var secondsValue: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

/// The states of the passes under way, by pipeline, behind a lock: passes of different pipelines
/// report from different threads.
final class ProgressStates: Sendable {
    private struct State {
        var states: [String: PassProgressState] = [:]
        var order: [String] = []
    }

    private let state = Mutex(State())

    func update<T: Sendable>(_ body: (inout [String: PassProgressState], inout [String]) -> T) -> T {
        state.withLock { body(&$0.states, &$0.order) }
    }
}

// MARK: - log lines

/// A job's log: one `progress` line per pipeline at most every `interval` (10 s by default), and
/// a final one when the pass ends, if the pass logged progress or lasted that long (a short pass
/// already says everything in its `pass finished` line). Nothing for a pass with nothing to do.
public final class LogLineProgress: PassProgress {
    let logger: Logger
    let clock: ProgressClock
    public let interval: Duration
    private let states = ProgressStates()
    /// When each pipeline last logged, and which logged in this pass.
    private let logging = Mutex((lastLogged: [String: Duration](), logged: Set<String>()))

    public init(logger: Logger, clock: @escaping ProgressClock = systemProgressClock, interval: Duration = .seconds(10)) {
        self.logger = logger
        self.clock = clock
        self.interval = interval
    }

    public func began(pipeline: String, total: Int) {
        let now = clock()
        states.update { states, _ in states[pipeline] = total > 0 ? PassProgressState(pipeline: pipeline, total: total, began: now) : nil }
        logging.withLock {
            $0.lastLogged[pipeline] = now
            $0.logged.remove(pipeline)
        }
    }

    public func advanced(pipeline: String, done: Int, rows: Int64, points: Int64) {
        let now = clock()
        guard let state = states.update({ states, _ -> PassProgressState? in
            guard var s = states[pipeline] else { return nil }
            s.done = max(s.done, done)
            s.rows = rows
            s.points = points
            states[pipeline] = s
            return s
        }) else { return }
        let due = logging.withLock { l -> Bool in
            guard now - (l.lastLogged[pipeline] ?? .zero) >= interval else { return false }
            l.lastLogged[pipeline] = now
            l.logged.insert(pipeline)
            return true
        }
        if due { log(state, now: now, final: false) }
    }

    public func ended(pipeline: String) {
        let now = clock()
        guard let state = states.update({ states, _ in states.removeValue(forKey: pipeline) }) else { return }
        let wanted = logging.withLock { l -> Bool in
            defer { l.lastLogged[pipeline] = nil; l.logged.remove(pipeline) }
            return l.logged.contains(pipeline) || now - state.began >= interval
        }
        if wanted { log(state, now: now, final: true) }
    }

    private func log(_ s: PassProgressState, now: Duration, final: Bool) {
        var metadata: Logger.Metadata = [
            "pipeline": "\(s.pipeline)", "done": "\(s.done)", "total": "\(s.total)",
            "rows": "\(s.rows)", "points": "\(s.points)",
            "duration": "\(String(format: "%.3f", (now - s.began).secondsValue))s",
        ]
        if let rate = s.rate(at: now) { metadata["buckets_per_second"] = "\(String(format: "%.3f", rate))" }
        if !final, let left = s.remaining(at: now) { metadata["eta"] = "\(PassProgressState.formatDuration(left))" }
        let message: String
        if final {
            message = s.done >= s.total
                ? "progress: all \(s.total) buckets done in \(PassProgressState.formatDuration(now - s.began))"
                : "progress: pass ended at \(s.done) of \(s.total) buckets after \(PassProgressState.formatDuration(now - s.began))"
        } else {
            message = "progress: " + s.summary(at: now)
        }
        logger.info("\(message)", metadata: metadata)
    }
}

// MARK: - terminal bar

/// Where a terminal bar is drawn: one line redrawn in place, which other output clears and
/// redraws around itself.
public protocol StatusLine: Sendable {
    /// Shows `text` as the status line (replacing the previous one).
    func show(_ text: String)
    /// Leaves `text` behind as an ordinary line and removes the status line.
    func finish(_ text: String)
}

/// A progress bar on stderr, redrawn at most every `redrawInterval` (and at the start and the end
/// of each pass); when several pipelines run at once, one line shows them all.
///
/// `requests  [=========>          ]  720/1440 buckets (50%), 6.0 buckets/s, 2m00s left`
public final class TerminalProgressBar: PassProgress {
    let clock: ProgressClock
    let line: any StatusLine
    let width: Int
    public let redrawInterval: Duration
    private let states = ProgressStates()
    /// When the line was last drawn; held while drawing, so lines are drawn one at a time.
    private let lastDrawn = Mutex<Duration?>(nil)

    public init(clock: @escaping ProgressClock = systemProgressClock, line: any StatusLine = TerminalStatusLine(),
                width: Int = 100, redrawInterval: Duration = .milliseconds(100)) {
        self.clock = clock
        self.line = line
        self.width = max(20, width)
        self.redrawInterval = redrawInterval
    }

    public func began(pipeline: String, total: Int) {
        guard total > 0 else { return }
        let now = clock()
        states.update { states, order in
            states[pipeline] = PassProgressState(pipeline: pipeline, total: total, began: now)
            order.removeAll { $0 == pipeline }
            order.append(pipeline)
        }
        draw(now: now, force: true)
    }

    public func advanced(pipeline: String, done: Int, rows: Int64, points: Int64) {
        let now = clock()
        let known = states.update { states, _ -> Bool in
            guard var s = states[pipeline] else { return false }
            s.done = max(s.done, done)
            s.rows = rows
            s.points = points
            states[pipeline] = s
            return true
        }
        if known { draw(now: now, force: false) }
    }

    public func ended(pipeline: String) {
        let now = clock()
        guard let finished = states.update({ states, order -> PassProgressState? in
            order.removeAll { $0 == pipeline }
            return states.removeValue(forKey: pipeline)
        }) else { return }
        let duration = PassProgressState.formatDuration(now - finished.began)
        let text = finished.done >= finished.total
            ? "\(finished.pipeline): \(finished.total) buckets, \(finished.rows) rows, \(finished.points) points in \(duration)"
            : "\(finished.pipeline): stopped at \(finished.done)/\(finished.total) buckets after \(duration)"
        lastDrawn.withLock {
            line.finish(Self.fit(text, width))
            $0 = nil
        }
        draw(now: now, force: true)
    }

    private func draw(now: Duration, force: Bool) {
        let active = states.update { states, order in order.compactMap { states[$0] } }
        lastDrawn.withLock { lastDrawn in
            if !force, let last = lastDrawn, now - last < redrawInterval { return }
            guard !active.isEmpty else { return }
            lastDrawn = now
            line.show(Self.text(active, at: now, width: width))
        }
    }

    /// The status line for the passes under way: a bar for one, a compact list for several.
    public static func text(_ passes: [PassProgressState], at now: Duration, width: Int) -> String {
        if passes.count == 1, let s = passes.first {
            let barWidth = 20
            let filled = Int((s.fraction * Double(barWidth)).rounded(.down))
            let bar = String(repeating: "=", count: filled) + (filled < barWidth ? ">" + String(repeating: " ", count: barWidth - filled - 1) : "")
            return fit("\(s.pipeline)  [\(bar)]  \(s.summary(at: now))", width)
        }
        let parts = passes.map { s -> String in
            var part = "\(s.pipeline) \(s.done)/\(s.total) (\(s.percent)%)"
            if s.done < s.total, let left = s.remaining(at: now) { part += " " + PassProgressState.formatDuration(left) + " left" }
            return part
        }
        return fit(parts.joined(separator: " | "), width)
    }

    /// `text` cut to `width` characters (a wrapped status line could not be redrawn in place).
    static func fit(_ text: String, _ width: Int) -> String {
        text.count <= width ? text : String(text.prefix(max(0, width - 1))) + "…"
    }
}

/// The status line on this process's stderr, drawn through ``LineWriter`` so ordinary lines
/// (log lines, stdout) clear it first and redraw it after.
public struct TerminalStatusLine: StatusLine {
    public init() {}

    public func show(_ text: String) { LineWriter.setStatus(text) }
    public func finish(_ text: String) { LineWriter.finishStatus(text) }

    /// The terminal's width (`TIOCGWINSZ` on stderr), or `COLUMNS`, or 80; one column kept free
    /// so the cursor never wraps.
    public static func columns() -> Int {
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) - 1 }
        if let c = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), c > 1 { return c - 1 }
        return 79
    }
}

extension LineWriter {
    static let clearLine = "\r\u{1B}[2K"

    /// Shows `text` as the status line on stderr.
    static func setStatus(_ text: String) {
        withLock { status in
            status = text
            standardError.writeUnlocked(clearLine + text)
        }
    }

    /// Replaces the status line by `text` as an ordinary line.
    static func finishStatus(_ text: String) {
        withLock { status in
            status = nil
            standardError.writeUnlocked(clearLine + text + "\n")
        }
    }

    /// Runs `body` (which writes whole lines to stdout or stderr) with the status line cleared
    /// first and drawn again after.
    public static func aroundStatus(_ body: () -> Void) {
        withLock { status in
            guard let status else { return body() }
            standardError.writeUnlocked(clearLine)
            defer { standardError.writeUnlocked(status) }
            body()
        }
    }
}

/// Wraps the text log handler on a terminal so that its lines clear the progress bar first and
/// redraw it after, instead of being glued to it. Wrap only a handler that writes on its own
/// (swift-log's `StreamLogHandler`): one writing through ``LineWriter`` already does this, and
/// would wait forever here for the lock this holds.
public struct StatusLineAwareLogHandler: WrappingLogHandler {
    public var inner: any LogHandler

    public init(_ inner: any LogHandler) { self.inner = inner }

    public func log(event: LogEvent) {
        LineWriter.aroundStatus { inner.log(event: event) }
    }
}
