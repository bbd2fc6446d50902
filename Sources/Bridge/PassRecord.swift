import Observability
import Logging
import Rollup
import UTCTime

/// What every kind of pass shares around its own work: the pipeline's lock, its run record, and
/// what a failure leaves behind — a redacted one-line error in the summary and in the run record,
/// and the watermark where the last acknowledged batch put it. ``RollupPass`` and ``TracePass``
/// (the two adapters over the ``PassRunner``) each bring only their own pass.
struct PassRecord {
    let pipeline: String
    let ledger: any PassLedger
    let logger: Logger
    let redact: Redactor
    /// Record a pass skipped for the lock in `otel_bridge.runs` (`serve`'s replicas do not).
    let recordSkips: Bool

    /// Takes the lock (or records the skip), runs `pass` under it, closes the run record `pass`
    /// opened (through `runID`) and releases the lock, whatever happened. `pass` keeps `summary`
    /// up to date as it commits, so a failure still reports what was committed; `finished` is
    /// told of a pass whose run record was closed as ok.
    func run(_ summary: PassSummary, pass: (inout PassSummary, _ runID: inout Int64?) throws -> Void,
             finished: (PassSummary) -> Void) -> PassSummary {
        var summary = summary
        var runID: Int64?
        do {
            guard try ledger.lock(pipeline: pipeline) else {
                if recordSkips {
                    try ledger.recordSkipped(pipeline: pipeline, reason: "another run holds the pipeline lock")
                    logger.notice("skipped: another run holds the pipeline lock")
                } else {
                    logger.debug("skipped: another run holds the pipeline lock")
                }
                summary.status = .skipped
                return summary
            }
        } catch {
            return failed(summary, error, runID: nil)
        }
        defer { ledger.unlock(pipeline: pipeline) }
        do {
            try pass(&summary, &runID)
            if let runID {
                do { try ledger.finishRun(runID, status: .ok, error: nil) } catch { throw checkpointError(error) }
            }
            finished(summary)
            return summary
        } catch {
            return failed(summary, error, runID: runID)
        }
    }

    /// A store failure as the bridge's error (a `BridgeError` stays as it is).
    func checkpointError(_ error: any Error) -> BridgeError {
        (error as? BridgeError) ?? BridgeError(.checkpoint, "\(error)", pipeline: pipeline, underlying: error)
    }

    private func failed(_ summary: PassSummary, _ error: any Error, runID: Int64?) -> PassSummary {
        var summary = summary
        let bridgeError = checkpointError(error)
        summary.status = .failed
        summary.errorCode = bridgeError.code
        // What is stored in runs.error and shown in checkpoints: no secret, one line.
        summary.error = redact(bridgeError.description)
        logger.error("pass failed; the watermark stays at \(UTCInstant(unixNanoseconds: summary.watermarkAfter).iso8601)", metadata: ["error": "\(summary.error ?? "")"])
        if let runID {
            do { try ledger.finishRun(runID, status: .failed, error: summary.error) } catch {
                logger.error("could not record the failed run", metadata: ["error": "\(redact("\(error)"))"])
            }
        }
        return summary
    }
}
