import Foundation
import Synchronization
import Logging
import Testing
@testable import Bridge
@testable import Commands
@testable import Observability
@testable import Service

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let now = Mutex<Duration>(.seconds(1000))
    func advance(_ d: Duration) { now.withLock { $0 += d } }
    var read: ProgressClock { { self.now.withLock { $0 } } }
}

/// Records what a bar draws.
final class RecordedStatusLine: StatusLine {
    private let storage = Mutex<[String]>([])
    var events: [String] { storage.withLock { $0 } }
    func show(_ text: String) { storage.withLock { $0.append("show " + text) } }
    func finish(_ text: String) { storage.withLock { $0.append("finish " + text) } }
}

@Suite("Progress of a pass: a bar on a terminal, bounded log lines in a job's log")
struct ProgressTests {
    @Test("the display: a bar only on a terminal with text logs")
    func choice() {
        #expect(ProgressDisplay.choose(format: .text, stderrIsTerminal: true, term: "xterm-256color") == .bar)
        #expect(ProgressDisplay.choose(format: .text, stderrIsTerminal: false, term: "xterm") == .logLines)
        #expect(ProgressDisplay.choose(format: .json, stderrIsTerminal: true, term: "xterm") == .logLines)
        #expect(ProgressDisplay.choose(format: .text, stderrIsTerminal: true, term: "dumb") == .logLines)
        #expect(ProgressDisplay.choose(format: .text, stderrIsTerminal: true, term: "xterm", enabled: false) == ProgressDisplay.none)
        #expect(ProgressDisplay.none.makeReporter(logger: Logger(label: "t")) is NoProgress)
        #expect(ProgressDisplay.logLines.makeReporter(logger: Logger(label: "t")) is LogLineProgress)
    }

    @Test("rate and time left from the buckets done so far")
    func state() {
        var s = PassProgressState(pipeline: "requests", total: 1440, began: .seconds(100))
        #expect(s.rate(at: .seconds(110)) == nil, "no bucket yet: unknown")
        #expect(s.summary(at: .seconds(110)) == "0/1440 buckets (0%)")
        s.done = 720
        #expect(s.rate(at: .seconds(220)) == 6)
        #expect(s.remaining(at: .seconds(220)) == .seconds(120))
        #expect(s.summary(at: .seconds(220)) == "720/1440 buckets (50%), 6.0 buckets/s, 2m00s left")
        s.done = 1440
        #expect(s.remaining(at: .seconds(300)) == .zero)
        #expect(s.summary(at: .seconds(340)) == "1440/1440 buckets (100%), 6.0 buckets/s")
        #expect(PassProgressState.formatRate(42.4) == "42 buckets/s")
        #expect(PassProgressState.formatRate(0.25) == "0.25 buckets/s")
        #expect(PassProgressState.formatRate(0.05) == "3.0 buckets/min")
        #expect(PassProgressState.formatDuration(.seconds(42)) == "42s")
        #expect(PassProgressState.formatDuration(.seconds(185)) == "3m05s")
        #expect(PassProgressState.formatDuration(.seconds(7620)) == "2h07m")
        #expect(PassProgressState.formatDuration(.seconds(273_600)) == "3d04h")
    }

    @Test("the bar's text: bar, counts, rate, time left; several pipelines on one line; never wider than the terminal")
    func barText() {
        var s = PassProgressState(pipeline: "requests", total: 100, began: .zero)
        s.done = 25
        #expect(TerminalProgressBar.text([s], at: .seconds(5), width: 120)
            == "requests  [=====>              ]  25/100 buckets (25%), 5.0 buckets/s, 15s left")
        var t = PassProgressState(pipeline: "tokens", total: 10, began: .zero)
        t.done = 10
        #expect(TerminalProgressBar.text([t], at: .seconds(5), width: 120)
            == "tokens  [====================]  10/10 buckets (100%), 2.0 buckets/s")
        #expect(TerminalProgressBar.text([s, t], at: .seconds(5), width: 120) == "requests 25/100 (25%) 15s left | tokens 10/10 (100%)")
        let narrow = TerminalProgressBar.text([s], at: .seconds(5), width: 30)
        #expect(narrow.count == 30 && narrow.hasSuffix("…"))
    }

    @Test("the bar redraws at most every 100 ms, always at the start and the end, and leaves a final line")
    func barRedraws() {
        let clock = ManualClock(), line = RecordedStatusLine()
        let bar = TerminalProgressBar(clock: clock.read, line: line, width: 200)
        bar.began(pipeline: "empty", total: 0)
        #expect(line.events.isEmpty, "nothing to do: nothing shown")
        bar.began(pipeline: "requests", total: 4)
        for i in 1...3 {
            clock.advance(.milliseconds(40))
            bar.advanced(pipeline: "requests", done: i, rows: Int64(i * 10), points: Int64(i * 5))
        }
        bar.advanced(pipeline: "requests", done: 2, rows: 20, points: 10)  // not monotonic: ignored
        clock.advance(.seconds(2))
        bar.advanced(pipeline: "requests", done: 4, rows: 40, points: 20)
        bar.ended(pipeline: "requests")
        #expect(line.events == [
            "show requests  [>                   ]  0/4 buckets (0%)",
            "show requests  [===============>    ]  3/4 buckets (75%), 25 buckets/s, 0s left",
            "show requests  [====================]  4/4 buckets (100%), 1.9 buckets/s",
            "finish requests: 4 buckets, 40 rows, 20 points in 2s",
        ])
    }

    @Test("a failed pass leaves the line it stopped at")
    func barStopped() {
        let clock = ManualClock(), line = RecordedStatusLine()
        let bar = TerminalProgressBar(clock: clock.read, line: line, width: 200)
        bar.began(pipeline: "requests", total: 10)
        clock.advance(.seconds(65))
        bar.advanced(pipeline: "requests", done: 3, rows: 1, points: 1)
        bar.ended(pipeline: "requests")
        bar.advanced(pipeline: "requests", done: 4, rows: 1, points: 1)  // after the end: ignored
        #expect(line.events.last == "finish requests: stopped at 3/10 buckets after 1m05s")
        #expect(line.events.count == 3)
    }

    @Test("log lines: at most one per 10 s per pipeline, plus the final one; none for a short pass")
    func logLines() throws {
        let clock = ManualClock(), captured = CapturedLines()
        let logger = Logger(label: "t") { label in
            JSONLogHandler(label: label, level: .info, redactor: Redactor(secrets: []), now: { 0 }, write: captured.append)
        }
        let progress = LogLineProgress(logger: logger, clock: clock.read)
        // A short pass: its `pass finished` line says it all.
        progress.began(pipeline: "quick", total: 2)
        clock.advance(.seconds(1))
        progress.advanced(pipeline: "quick", done: 2, rows: 5, points: 5)
        progress.ended(pipeline: "quick")
        progress.began(pipeline: "none", total: 0)
        progress.advanced(pipeline: "none", done: 0, rows: 0, points: 0)
        progress.ended(pipeline: "none")
        #expect(captured.lines.isEmpty)
        // A backfill of 100 buckets, one a second, beside another pipeline.
        progress.began(pipeline: "requests", total: 100)
        progress.began(pipeline: "tokens", total: 50)
        for i in 1...100 {
            clock.advance(.seconds(1))
            progress.advanced(pipeline: "requests", done: i, rows: Int64(i) * 10, points: Int64(i) * 4)
            if i <= 50 { progress.advanced(pipeline: "tokens", done: i, rows: 0, points: 0) }
        }
        progress.ended(pipeline: "requests")
        progress.ended(pipeline: "tokens")
        let objects = try captured.lines.map(parseJSON)
        let requests = objects.filter { $0["pipeline"] as? String == "requests" }
        let tokens = objects.filter { $0["pipeline"] as? String == "tokens" }
        #expect(requests.count == 11, "at 10, 20, … 100 s, and the final line")
        #expect(tokens.count == 6, "at 10 … 50 s, and the final line (ended at 100 s)")
        #expect(requests.first?["message"] as? String == "progress: 10/100 buckets (10%), 1.0 buckets/s, 1m30s left")
        #expect(requests.first?["done"] as? Int == 10)
        #expect(requests.first?["total"] as? Int == 100)
        #expect(requests.first?["rows"] as? Int == 100)
        #expect(requests.first?["points"] as? Int == 40)
        #expect(requests.first?["eta"] as? String == "1m30s")
        #expect(requests.first?["duration"] as? String == "10.000s")
        #expect(requests.last?["message"] as? String == "progress: all 100 buckets done in 1m40s")
        #expect(tokens.last?["message"] as? String == "progress: all 50 buckets done in 1m40s")
    }

    @Test("a pass that ends early after logging progress says where it stopped")
    func logLinesStopped() throws {
        let clock = ManualClock(), captured = CapturedLines()
        let logger = Logger(label: "t") { label in
            JSONLogHandler(label: label, level: .info, redactor: Redactor(secrets: []), now: { 0 }, write: captured.append)
        }
        let progress = LogLineProgress(logger: logger, clock: clock.read)
        progress.began(pipeline: "requests", total: 100)
        clock.advance(.seconds(30))
        progress.advanced(pipeline: "requests", done: 30, rows: 0, points: 0)
        progress.ended(pipeline: "requests")
        let messages = try captured.lines.map(parseJSON).compactMap { $0["message"] as? String }
        #expect(messages == ["progress: 30/100 buckets (30%), 1.0 buckets/s, 1m10s left", "progress: pass ended at 30 of 100 buckets after 30s"])
    }
}
