import CurlHTTP

/// How one signal (metrics or traces) is exported over OTLP/HTTP.
///
/// A value: the Environment module reads it from the environment (`init(signal:environment:prefix:)`,
/// the OTel specification's rules), tests and benchmarks build it directly.
public struct OTLPExporterConfiguration: Sendable {
    public enum Signal: String, Sendable {
        case metrics, traces
    }

    public enum WireProtocol: String, Sendable {
        /// `http/protobuf`, the default.
        case httpProtobuf = "http/protobuf"
        /// `http/json`.
        case httpJSON = "http/json"
    }

    public enum Compression: String, Sendable {
        case none, gzip
    }

    /// The full URL requests go to (`…/v1/metrics`).
    public var endpoint: String
    /// Headers of every request (`OTEL_EXPORTER_OTLP_HEADERS`). Values are secrets: never logged.
    public var headers: [(name: String, value: String)]
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, default `http/protobuf`.
    public var wireProtocol: WireProtocol
    /// `OTEL_EXPORTER_OTLP_COMPRESSION`, default none.
    public var compression: Compression
    /// Limit of one request (`OTEL_EXPORTER_OTLP_TIMEOUT`, milliseconds, default 10000).
    public var timeout: Duration
    /// `OTEL_EXPORTER_OTLP_CERTIFICATE`, `…_CLIENT_CERTIFICATE`, `…_CLIENT_KEY`.
    public var tls: TLSConfiguration

    public init(
        endpoint: String, headers: [(name: String, value: String)] = [], wireProtocol: WireProtocol = .httpProtobuf,
        compression: Compression = .none, timeout: Duration = .seconds(10), tls: TLSConfiguration = TLSConfiguration()
    ) {
        self.endpoint = endpoint
        self.headers = headers
        self.wireProtocol = wireProtocol
        self.compression = compression
        self.timeout = timeout
        self.tls = tls
    }

    /// The OTel default when no endpoint variable is set.
    public static let defaultBaseEndpoint = "http://localhost:4318"

    /// `base` with `/v1/<signal>` appended, as the OTel specification does for a general endpoint.
    public static func appendSignalPath(_ base: String, signal: Signal) -> String {
        (base.hasSuffix("/") ? base : base + "/") + "v1/" + signal.rawValue
    }
}

/// The OTel resource of everything the bridge exports.
public enum OTLPResource {
    /// `service.name` when neither variable sets one.
    public static let defaultServiceName = "otel-bridge"
    // Its attributes from the environment: `OTLPResource.attributes(environment:)` in the
    // Environment module.
}
