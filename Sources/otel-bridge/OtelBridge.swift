import CurlHTTP
import ArgumentParser
import Checkpoints
import Environment
import Foundation
import Logging
import Bridge
import Commands
import Observability
import Rollup
import UTCTime

/// `otel-bridge`: AI-gateway analytics from ClickHouse to OpenTelemetry.
///
/// Exit codes: 0 success or nothing to do, 1 a pipeline failed (its watermark unchanged),
/// 2 bad configuration or usage.
@main
struct OtelBridge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "otel-bridge",
        abstract: "Exports AI-gateway analytics from ClickHouse to any OpenTelemetry backend.",
        discussion: "Configuration comes from the environment (CLICKHOUSE_*, CHECKPOINT_DATABASE_URL, OTEL_*, BRIDGE_*) and the pipeline file (BRIDGE_CONFIG, default config/bridge.yaml). See README.md.",
        version: BridgeConfiguration.version,
        subcommands: [Run.self, Serve.self, CheckpointsCommand.self, Validate.self])

    /// Reached only when no subcommand was parsed: a usage error (exit 2), never help and exit 0,
    /// so that a job whose command line was lost fails instead of "succeeding" doing nothing.
    func run() async throws {
        throw ValidationError("no command given: one of run, serve, checkpoints, validate is required")
    }

    /// Why this process cannot run at all, or nil. On Linux the Swift runtime finds `argv` through
    /// `/proc/self/maps`; where `/proc` is not mounted (a chroot or container root without it)
    /// `CommandLine.arguments` is empty, not even the program name, and any subcommand would parse
    /// as none. Nothing else could run there either: libdispatch, which runs Swift concurrency,
    /// traps (SIGILL) when it watches its worker threads through `/proc/self/task`.
    static func unusableProcess() -> String? {
        guard CommandLine.arguments.isEmpty else { return nil }
        return "the command line could not be read: the Swift runtime found no arguments, not even the program name (it reads them through /proc/self/maps: is /proc mounted?)"
    }

    /// Runs the command, mapping failures to the documented exit codes (argument-parser's own
    /// usage errors would exit with 64). With `LOG_FORMAT=json` every line, argument-parser's
    /// usage errors and help included, is written here as one JSON object.
    static func main() async {
        // First, on the main thread, before anything starts a worker thread that libdispatch
        // would watch through /proc (without /proc that traps within moments).
        if let problem = unusableProcess() {
            output.emitBlock(.stderr, level: .error, "Error: \(problem)\nUsage: otel-bridge <subcommand>",
                             fields: ["error": "usage error"])
            Foundation.exit(2)
        }
        let format: LogFormat, level: Logger.Level
        do {
            (format, level) = try LogFormat.settings(environment: environment)
        } catch {
            // Which format was meant is unknown: plain text.
            FileHandle.standardError.write(Data("otel-bridge: \(redact(error.description))\n".utf8))
            Foundation.exit(error.code.exitCode)
        }
        LoggingSystem.bootstrap { label in
            switch format {
            case .json:
                // Message, metadata and keys pass through `redact` inside.
                return JSONLogHandler(label: label, level: level, redactor: redact)
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                // Every line: no configured secret, no control character from data; on a
                // terminal, the progress bar is cleared first and redrawn after.
                return StatusLineAwareLogHandler(RedactingLogHandler(handler, redactor: redact))
            }
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as BridgeError {
            var fields = ["error": error.code.description]
            if let pipeline = error.pipeline { fields["pipeline"] = pipeline }
            if let file = error.file { fields["file"] = error.line.map { "\(file):\($0)" } ?? file }
            if let key = error.key { fields["key"] = key }
            output.emit(.stderr, level: .error, "otel-bridge: \(error.description)", message: error.description, fields: fields)
            Foundation.exit(error.code.exitCode)
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let exitCode = exitCode(for: error)
            if exitCode == .success {
                // --help, --version: text as argument-parser prints it, or one JSON object.
                guard output.format == .json else { exit(withError: error) }
                output.emitBlock(.stdout, level: .info, fullMessage(for: error))
                Foundation.exit(0)
            }
            output.emitBlock(.stderr, level: .error, fullMessage(for: error), fields: ["error": "usage error"])
            Foundation.exit(2)
        }
    }
}

/// This process's environment, taken once; every command reads it through the one table
/// (``BridgeConfiguration``).
let environment = EnvironmentValues(ProcessInfo.processInfo.environment)

/// Removes the secrets of this process's environment from everything it prints.
let redact = Redactor(environment: environment.values)

/// Every line the commands print, in `LOG_FORMAT` (an invalid value stops `main` before any line).
let output = OutputLines(format: (try? LogFormat(environment: environment)) ?? .text, redactor: redact)

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "Pipeline file (overrides BRIDGE_CONFIG; default config/bridge.yaml).")
    var config: String?

    /// The environment, read once, with `--config` over `BRIDGE_CONFIG`.
    func configuration() throws(BridgeError) -> BridgeConfiguration {
        var values = environment.values
        if let config { values["BRIDGE_CONFIG"] = config }
        return try BridgeConfiguration(environment: EnvironmentValues(values))
    }

    func bridge() throws -> Bridge {
        try Bridge.load(configuration: configuration(), redactor: redact, logger: Logger(label: "otel-bridge"))
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One catch-up pass over every enabled pipeline, then exit (what the Kubernetes CronJob runs).")

    @OptionGroup var options: CommonOptions

    @Flag(help: "Query and convert, print the points, push nothing, move no watermark.")
    var dryRun = false

    @Option(name: .customLong("pipeline"), help: "Run only this pipeline (repeatable; runs it even if disabled).")
    var pipelines: [String] = []

    @Flag(inversion: .prefixedNo, help: "Show a backfill's progress: a bar on a terminal, a line every 10 s per pipeline in a log.")
    var progress = true

    func run() async throws {
        let bridge = try options.bridge()
        let dryRun = self.dryRun, only = pipelines
        // A backfill's progress: a bar on a terminal, bounded log lines otherwise.
        let reporter = ProgressDisplay.forThisProcess(format: output.format, environment: environment.values, enabled: progress)
            .makeReporter(logger: Logger(label: "otel-bridge"))
        let summaries = try await Bridge.offload {
            try bridge.run(dryRun: dryRun, only: only, progress: reporter, output: { line in
                // `window  metric  {attributes}  value`: the first two indexed on their own.
                let parts = line.components(separatedBy: "  ")
                output.emit(.stdout, line, fields: parts.count >= 3 ? ["window": parts[0], "metric": parts[1]] : [:])
            })
        }
        for s in summaries {
            let window = "\(UTCInstant(unixNanoseconds: s.watermarkBefore).iso8601)..\(UTCInstant(unixNanoseconds: s.watermarkAfter).iso8601)"
            let line = "\(s.pipeline): \(s.status.rawValue), watermark \(UTCInstant(unixNanoseconds: s.watermarkBefore).iso8601) -> \(UTCInstant(unixNanoseconds: s.watermarkAfter).iso8601), "
                + "\(s.rowsRead) rows, \(s.pointsExported) points in \(s.batches) batch(es)"
                + (s.pointsRejected > 0 ? ", \(s.pointsRejected) rejected by the receiver" : "")
                + (s.error.map { "; error: \($0)" } ?? "")
            var fields = [
                "pipeline": s.pipeline, "status": s.status.rawValue, "window": window, "rows": "\(s.rowsRead)",
                "points": "\(s.pointsExported)", "batches": "\(s.batches)", "rejected": "\(s.pointsRejected)",
            ]
            if let error = s.error { fields["error"] = error }
            output.emit(.stderr, level: s.status == .failed ? .error : .info, line, fields: fields)
        }
        if summaries.contains(where: { $0.status == .failed }) { throw ExitCode(1) }
    }
}

/// `otel-bridge checkpoints`: named apart from the `Checkpoints` module it reads.
struct CheckpointsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoints",
        abstract: "Show every pipeline's watermark and status.",
        subcommands: [Show.self, Rewind.self], defaultSubcommand: Show.self)

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show every pipeline's watermark and status.")
        @OptionGroup var options: CommonOptions

        func run() async throws {
            let bridge = try options.bridge()
            let statuses = try await Bridge.offload { try bridge.checkpointStatuses() }
            let known = Set(statuses.map(\.pipeline))
            var rows = [["PIPELINE", "WATERMARK", "BEHIND", "LAST SUCCESS", "FAILURES", "LOCKED", "LATE 24H", "FOLDED 24H", "SKIPPED 24H", "OVERFLOW 24H", "LAST ERROR"]]
            for s in statuses {
                rows.append([
                    s.pipeline, s.watermark.iso8601, formatBehind(s.behind), s.lastSuccessAt.map(\.iso8601) ?? "-",
                    String(s.consecutiveFailures), s.locked ? "yes" : "no", String(s.lateBuckets24h),
                    s.lateUnfolded24h > 0 ? "\(s.lateFolded24h) (\(s.lateUnfolded24h) not)" : String(s.lateFolded24h),
                    String(s.pointsSkipped24h), String(s.seriesOverflowed24h),
                    s.lastError.map { redact($0, limit: 80) } ?? "-",
                ])
            }
            for p in bridge.pipelines where !known.contains(p.name) {
                rows.append([p.name, "(none yet)", "-", "-", "0", "no", "0", "0", "0", "0", "-"])
            }
            if output.format == .json {
                // One object per pipeline, keyed by the column names.
                let keys = ["pipeline", "watermark", "behind", "last_success", "failures", "locked", "late_24h", "folded_24h", "skipped_24h", "overflow_24h", "last_error"]
                for row in rows.dropFirst() {
                    output.emit(.stdout, row.joined(separator: "  "), message: "checkpoint of \(row[0])",
                                fields: Dictionary(uniqueKeysWithValues: zip(keys, row)))
                }
            } else {
                for line in table(rows).split(separator: "\n") { output.emit(.stdout, String(line)) }
            }
            // A pipeline stuck on a refused request: the receiver's message, since when, the remedy.
            let now = UTCInstant.now.unixNanoseconds
            for wedge in statuses.compactMap(Wedge.init) {
                output.emit(.stdout, "\(wedge.pipeline): \(redact(wedge.description(now: now), limit: 600))",
                            message: "pipeline \(wedge.pipeline) is stuck on a refused request",
                            fields: ["pipeline": wedge.pipeline, "stuck_since": wedge.since.iso8601, "error": redact(wedge.message, limit: 400),
                                     "remedy": wedge.remedy])
            }
        }
    }

    struct Rewind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a pipeline's watermark to re-export from a time.",
            discussion: "Cumulative series of the pipeline restart with the new watermark as their start time (the backend sees a reset, never a counter going backwards under the same start time).")
        @OptionGroup var options: CommonOptions

        @Argument(help: "The pipeline to rewind.")
        var pipeline: String

        @Option(help: "ISO 8601 UTC time, aligned down to the pipeline's step (for example 2026-11-29T00:00:00Z); with --skip-ahead alone, the end of the last closed bucket.")
        var to: String?

        @Flag(help: "Do not ask for confirmation (for scripts).")
        var yes = false

        @Flag(help: "Allow moving the watermark forward, skipping buckets that were never exported (recorded in otel_bridge.gaps): what unwedges a pipeline whose receiver refuses its backlog.")
        var skipAhead = false

        func run() async throws {
            var time: Int64?
            if let to {
                guard let t = UTCInstant(iso8601: to)?.unixNanoseconds else {
                    throw ValidationError("--to must be an ISO 8601 UTC time such as 2026-11-29T00:00:00Z between the years \(UTCInstant.representableYears.lowerBound) and \(UTCInstant.representableYears.upperBound), not '\(LogSafe.text(to, limit: 64))'")
                }
                time = t
            } else if !skipAhead {
                throw ValidationError("--to is required (or --skip-ahead alone, to skip to the end of the last closed bucket)")
            }
            let bridge = try options.bridge()
            if !yes {
                guard isatty(STDIN_FILENO) != 0 else {
                    throw ValidationError("rewinding re-exports data: pass --yes to confirm when not running interactively")
                }
                let question = time.map { "Rewind pipeline \(pipeline) to \(UTCInstant(unixNanoseconds: $0).iso8601)? Buckets after it will be exported again. [y/N] " }
                    ?? "Skip pipeline \(pipeline) ahead to the end of its last closed bucket? Buckets before it will never be exported. [y/N] "
                if output.format == .json {
                    output.emit(.stdout, question, fields: ["pipeline": pipeline])
                } else {
                    print(question, terminator: "")
                    fflush(nil)  // the prompt has no line end to flush it
                }
                guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                    output.emit(.stdout, "Not rewound.", fields: ["pipeline": pipeline])
                    return
                }
            }
            let name = pipeline, skip = skipAhead, target = time
            let result = try await Bridge.offload { try bridge.rewind(pipeline: name, to: target, skipAhead: skip) }
            output.emit(.stdout, "\(name): watermark set to \(UTCInstant(unixNanoseconds: result.watermark).iso8601); \(result.seriesReset) cumulative series will restart",
                        fields: ["pipeline": name, "watermark": UTCInstant(unixNanoseconds: result.watermark).iso8601, "series_reset": "\(result.seriesReset)"])
        }
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check configuration, templates and connectivity without exporting anything.",
        discussion: "One line per check (ok, FAIL, skip); every check runs. Exit 0 all passed, 2 a configuration, template or mapping check failed, 1 another check failed.")
    @OptionGroup var options: CommonOptions

    func run() async throws {
        // No `options.bridge()`: a broken environment or pipeline file is one of the lines, not the end.
        let configuration = Result { () throws(BridgeError) in try options.configuration() }
        let report = try await Bridge.offload {
            Bridge.validate(configuration: configuration, redactor: redact, logger: Logger(label: "otel-bridge"), output: {
                // A failing check is an error line to a log collector.
                output.emit(.stdout, level: $0.status == .failed ? .error : .info, $0.line, message: $0.detail,
                            fields: ["check": $0.name, "status": $0.status.rawValue])
            })
        }
        if !report.passed { throw ExitCode(report.exitCode) }
    }
}

func formatBehind(_ d: Duration) -> String {
    let s = d.components.seconds
    if s < 120 { return "\(s)s" }
    if s < 7200 { return "\(s / 60)m" }
    return "\(s / 3600)h\(s % 3600 / 60)m"
}

func table(_ rows: [[String]]) -> String {
    guard let first = rows.first else { return "" }
    var widths = first.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    return rows.map { row in
        row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }.joined(separator: "\n")
}
