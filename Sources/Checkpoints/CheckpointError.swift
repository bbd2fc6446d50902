/// A checkpoint-store failure that is not a database error: a request that would break the
/// store's rules. Database failures are thrown as `PostgresError`.
public struct CheckpointError: Error, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {

    /// What kind of failure this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case watermarkRegression
            case unknownPipeline
            case unknownRun
            case invalidArgument
            case lockLost
            case seriesStateChanged
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A batch tried to move a watermark backwards. That is a bug in the caller: only
        /// ``CheckpointStore/rewind(pipeline:to:)`` may move a watermark back.
        public static let watermarkRegression = Self(.watermarkRegression)
        /// The pipeline has no checkpoint row (``CheckpointStore/ensureCheckpoint(pipeline:initialWatermark:)`` first).
        public static let unknownPipeline = Self(.unknownPipeline)
        /// The run does not exist, belongs to another pipeline, or is no longer `running`.
        public static let unknownRun = Self(.unknownRun)
        /// An argument the store cannot accept (a final status of `running`, …).
        public static let invalidArgument = Self(.invalidArgument)
        /// The committing session does not hold the pipeline's advisory lock.
        public static let lockLost = Self(.lockLost)
        /// Series state a commit updates is no longer stored (deleted while the pipeline ran).
        public static let seriesStateChanged = Self(.seriesStateChanged)

        public var description: String {
            switch self.base {
            case .lockLost: "lockLost"
            case .seriesStateChanged: "seriesStateChanged"
            case .watermarkRegression: "watermarkRegression"
            case .unknownPipeline: "unknownPipeline"
            case .unknownRun: "unknownRun"
            case .invalidArgument: "invalidArgument"
            }
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened, in words.
    public var message: String
    /// The pipeline concerned, if any.
    public var pipeline: String?
    /// The run concerned, if any.
    public var runID: Int64?
    /// The file (`#fileID`) that called the store.
    public var file: String
    /// The line that called the store.
    public var line: Int

    public init(
        code: Code,
        message: String,
        pipeline: String? = nil,
        runID: Int64? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.pipeline = pipeline
        self.runID = runID
        self.file = file
        self.line = line
    }

    public var description: String {
        var text = "Checkpoint error \(self.code)"
        if let pipeline = self.pipeline {
            text += " (pipeline \(pipeline))"
        }
        if let runID = self.runID {
            text += " (run \(runID))"
        }
        return text + ": \(self.message)"
    }

    public var debugDescription: String {
        "\(self.description) (at \(self.file):\(self.line))"
    }
}
