import PipelineConfig

/// A failure of the bridge that an operator can act on: it names the pipeline, the file (and
/// line) and the column or key involved, and says what is wrong.
///
/// `description` never contains a password, key or header value; the underlying error's detail
/// is in `debugDescription`.
public struct BridgeError: Error, CustomStringConvertible, CustomDebugStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case configuration, template, query, result, export, checkpoint, usage
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Environment or pipeline file is invalid (exit code 2).
        public static let configuration = Code(.configuration)
        /// A query template is missing, unreadable or does not fit its mapping (exit code 2).
        public static let template = Code(.template)
        /// ClickHouse failed the query (exit code 1).
        public static let query = Code(.query)
        /// The result does not fit its mapping: missing bucket, misaligned bucket, negative count,
        /// NaN, unordered rows (exit code 1).
        public static let result = Code(.result)
        /// The OTLP receiver did not acknowledge a batch (exit code 1).
        public static let export = Code(.export)
        /// The checkpoint store failed (exit code 1).
        public static let checkpoint = Code(.checkpoint)
        /// The command line is wrong (exit code 2).
        public static let usage = Code(.usage)

        public var description: String {
            switch base {
            case .configuration: "configuration error"
            case .template: "template error"
            case .query: "query failed"
            case .result: "bad query result"
            case .export: "export failed"
            case .checkpoint: "checkpoint store error"
            case .usage: "usage error"
            }
        }

        /// Configuration and usage errors exit with 2, everything else with 1.
        public var exitCode: Int32 {
            switch base {
            case .configuration, .template, .usage: 2
            default: 1
            }
        }
    }

    public var code: Code
    public var message: String
    public var pipeline: String?
    /// The file involved (pipeline YAML or query template), with a line when known.
    public var file: String?
    public var line: Int?
    /// The YAML key or result column involved.
    public var key: String?
    /// The underlying error's debug description (may hold more detail; never secrets).
    public var underlying: String?
    public var sourceFile: String
    public var sourceLine: Int

    public init(
        _ code: Code, _ message: String, pipeline: String? = nil, file: String? = nil, line: Int? = nil,
        key: String? = nil, underlying: (any Error)? = nil, sourceFile: String = #fileID, sourceLine: Int = #line
    ) {
        self.code = code
        self.message = message
        self.pipeline = pipeline
        self.file = file
        self.line = line
        self.key = key
        self.underlying = underlying.map { String(reflecting: $0) }
        self.sourceFile = sourceFile
        self.sourceLine = sourceLine
    }

    public var description: String {
        PipelineConfigError.describe(code: code.description, message: message, pipeline: pipeline, file: file, line: line, key: key)
    }

    public var debugDescription: String {
        description + " [at \(sourceFile):\(sourceLine)]" + (underlying.map { " underlying: \($0)" } ?? "")
    }

    /// A refused pipeline file or template, as the same configuration or template error (exit code 2).
    package init(_ error: PipelineConfigError) {
        self.init(error.code == .template ? .template : .configuration, error.message, pipeline: error.pipeline, file: error.file,
                  line: error.line, key: error.key, sourceFile: error.sourceFile, sourceLine: error.sourceLine)
        underlying = error.underlying
    }
}
