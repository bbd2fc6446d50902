/// Why the pipeline file or one of its query templates was refused: it always names the file, and
/// the line, the key and the pipeline when known, and says what is wrong. The bridge reports it as a
/// configuration or template error (exit code 2).
///
/// `description` never contains a secret; the underlying error's detail is in `debugDescription`.
public struct PipelineConfigError: Error, CustomStringConvertible, CustomDebugStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case configuration, template
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The pipeline file is unreadable, not YAML, or a key is unknown, missing or invalid.
        public static let configuration = Code(.configuration)
        /// A query template is unreadable or its placeholders are wrong.
        public static let template = Code(.template)

        public var description: String {
            switch base {
            case .configuration: "configuration error"
            case .template: "template error"
            }
        }
    }

    public var code: Code
    public var message: String
    public var pipeline: String?
    /// The file refused: the pipeline YAML or a query template (always known).
    public var file: String
    public var line: Int?
    /// The YAML key or placeholder involved.
    public var key: String?
    /// The underlying error's debug description (may hold more detail; never secrets).
    public var underlying: String?
    public var sourceFile: String
    public var sourceLine: Int

    public init(
        _ code: Code, _ message: String, pipeline: String? = nil, file: String, line: Int? = nil,
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

    /// `code: pipeline P, file:line, 'key': message`, the parts that are known.
    public var description: String {
        Self.describe(code: code.description, message: message, pipeline: pipeline, file: file, line: line, key: key)
    }

    public var debugDescription: String {
        description + " [at \(sourceFile):\(sourceLine)]" + (underlying.map { " underlying: \($0)" } ?? "")
    }

    /// The one wording of an error located in a pipeline, a file and a key; the bridge's own
    /// error uses it too, so an error reads the same whichever layer reports it.
    public static func describe(code: String, message: String, pipeline: String?, file: String?, line: Int?, key: String?) -> String {
        var location: [String] = []
        if let pipeline { location.append("pipeline \(pipeline)") }
        if let file { location.append(line.map { "\(file):\($0)" } ?? file) }
        if let key { location.append("'\(key)'") }
        let prefix = location.isEmpty ? "" : location.joined(separator: ", ") + ": "
        return "\(code): \(prefix)\(message)"
    }

    func with(pipeline: String) -> PipelineConfigError {
        var copy = self
        if copy.pipeline == nil { copy.pipeline = pipeline }
        return copy
    }
}
