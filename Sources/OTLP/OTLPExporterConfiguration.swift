import CurlHTTP

/// How one signal (metrics or traces) is exported over OTLP/HTTP.
///
/// Built from the environment by ``init(signal:environment:)`` following the OTel specification
/// ("OTLP Exporter Configuration"): a signal-specific variable wins over the general one, a
/// signal-specific endpoint is used as is, a general endpoint gets `/v1/<signal>` appended.
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

    /// Reads the configuration of `signal` from `environment`.
    ///
    /// Endpoint, in order: `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` (as is), then the gateway's
    /// `OTEL_ENDPOINT`, then `OTEL_EXPORTER_OTLP_ENDPOINT` (base URLs, `/v1/<signal>` appended), then
    /// `http://localhost:4318/v1/<signal>`. `prefix` lets the GenAI traces exporter read its
    /// `EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_*` variables with the same rules.
    public init(
        signal: Signal, environment: [String: String], prefix: String = "OTEL_EXPORTER_OTLP"
    ) throws(OTLPConfigurationError) {
        let signalName = signal.rawValue.uppercased()
        func value(_ name: String) -> String? {
            guard let v = environment[name]?.trimmedSpaces, !v.isEmpty else { return nil }
            return v
        }
        /// The signal-specific variable, else the general one: (name it came from, value).
        func lookup(_ suffix: String) -> (String, String)? {
            let specific = "\(prefix)_\(signalName)_\(suffix)", general = "\(prefix)_\(suffix)"
            if let v = value(specific) { return (specific, v) }
            if let v = value(general) { return (general, v) }
            return nil
        }

        let specificEndpoint = "\(prefix)_\(signalName)_ENDPOINT"
        if let url = value(specificEndpoint) {
            endpoint = try Self.validateURL(url, variable: specificEndpoint)
        } else if prefix == "OTEL_EXPORTER_OTLP", let base = value("OTEL_ENDPOINT") {
            endpoint = Self.appendSignalPath(try Self.validateURL(base, variable: "OTEL_ENDPOINT"), signal: signal)
        } else if let base = value("\(prefix)_ENDPOINT") {
            endpoint = Self.appendSignalPath(try Self.validateURL(base, variable: "\(prefix)_ENDPOINT"), signal: signal)
        } else {
            endpoint = Self.appendSignalPath(Self.defaultBaseEndpoint, signal: signal)
        }

        // Headers: the general list, then the signal-specific list overriding keys it repeats.
        var headers: [(name: String, value: String)] = []
        for name in ["\(prefix)_HEADERS", "\(prefix)_\(signalName)_HEADERS"] {
            guard let text = value(name) else { continue }
            for (key, v) in try KeyValueList.parseHeaders(text, variable: name) {
                headers.removeAll { $0.name.lowercased() == key.lowercased() }
                headers.append((key, v))
            }
        }
        self.headers = headers

        wireProtocol = .httpProtobuf
        if let (name, text) = lookup("PROTOCOL") {
            switch text {
            case "http/protobuf": wireProtocol = .httpProtobuf
            case "http/json": wireProtocol = .httpJSON
            case "grpc":
                throw OTLPConfigurationError(variable: name, reason: "grpc is not supported; otel-bridge exports over OTLP/HTTP (use http/protobuf or http/json)")
            default:
                throw OTLPConfigurationError(variable: name, reason: "unknown protocol '\(text)' (expected http/protobuf or http/json)")
            }
        }

        compression = .none
        if let (name, text) = lookup("COMPRESSION") {
            guard let c = Compression(rawValue: text.lowercased()) else {
                throw OTLPConfigurationError(variable: name, reason: "unknown compression '\(text)' (expected gzip or none)")
            }
            compression = c
        }

        timeout = .seconds(10)
        if let (name, text) = lookup("TIMEOUT") {
            timeout = try Self.parseTimeout(text, variable: name)
        }

        tls = TLSConfiguration()
        func readableFile(_ suffix: String) throws(OTLPConfigurationError) -> String? {
            guard let (name, path) = lookup(suffix) else { return nil }
            if let why = TLSConfiguration.unreadableReason(path) {
                throw OTLPConfigurationError(variable: name, reason: LogSafe.text(why))
            }
            return path
        }
        if let path = try readableFile("CERTIFICATE") { tls.caFile = path }
        if let path = try readableFile("CLIENT_CERTIFICATE") { tls.clientCertificateFile = path }
        if let path = try readableFile("CLIENT_KEY") { tls.clientKeyFile = path }
        if (tls.clientCertificateFile == nil) != (tls.clientKeyFile == nil) {
            throw OTLPConfigurationError(variable: "\(prefix)_CLIENT_CERTIFICATE", reason: "a client certificate and a client key must be set together")
        }
    }

    /// Bounds of `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds): 1 ms … 1 h. libcurl reads 0 as
    /// "no limit", so nothing below 1 ms is accepted.
    public static let timeoutRange: ClosedRange<Int64> = 1 ... 3_600_000

    /// Whole milliseconds as the OTel specification has them (an integer), within ``timeoutRange``.
    /// `0.1`, `1e20`, `-5`, `NaN` and numbers beyond Int64 are errors that name the variable.
    static func parseTimeout(_ text: String, variable: String) throws(OTLPConfigurationError) -> Duration {
        let digits = text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
        guard digits, text.utf8.count <= 10, let ms = Int64(text), timeoutRange.contains(ms) else {
            throw OTLPConfigurationError(variable: variable, reason: "expected whole milliseconds within \(timeoutRange.lowerBound)…\(timeoutRange.upperBound), got '\(LogSafe.text(text, limit: 40))'")
        }
        return .milliseconds(ms)
    }

    static func appendSignalPath(_ base: String, signal: Signal) -> String {
        (base.hasSuffix("/") ? base : base + "/") + "v1/" + signal.rawValue
    }

    static func validateURL(_ url: String, variable: String) throws(OTLPConfigurationError) -> String {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw OTLPConfigurationError(variable: variable, reason: "expected an http:// or https:// URL (the value is not shown, as it may hold credentials)")
        }
        guard HTTPError.isWellFormedHTTPURL(url), LogSafe.isHeaderValueSafe(url), !url.contains(" ") else {
            throw OTLPConfigurationError(variable: variable, reason: "not a valid http(s) URL: its host part must be host[:port] (percent-encode '/', '?', '#' and '@' in credentials); the value is not shown")
        }
        return url
    }
}

/// The OTel resource of everything the bridge exports.
public enum OTLPResource {
    /// `service.name` when neither variable sets one.
    public static let defaultServiceName = "otel-bridge"

    /// Attributes from `OTEL_RESOURCE_ATTRIBUTES` (or `attributesVariable`), with `service.name`
    /// from `OTEL_SERVICE_NAME` taking precedence, then the list's own, then `otel-bridge`.
    /// `service.name` comes first; the rest keep their order (a repeated key: the last wins).
    public static func attributes(
        environment: [String: String], attributesVariable: String = "OTEL_RESOURCE_ATTRIBUTES"
    ) throws(OTLPConfigurationError) -> [(key: String, value: String)] {
        var list: [(key: String, value: String)] = []
        if let text = environment[attributesVariable] {
            for (key, value) in try KeyValueList.parse(text, variable: attributesVariable) {
                list.removeAll { $0.key == key }
                list.append((key, value))
            }
        }
        var serviceName = list.first { $0.key == "service.name" }?.value ?? defaultServiceName
        if let name = environment["OTEL_SERVICE_NAME"]?.trimmedSpaces, !name.isEmpty { serviceName = name }
        list.removeAll { $0.key == "service.name" }
        return [("service.name", serviceName)] + list
    }
}
