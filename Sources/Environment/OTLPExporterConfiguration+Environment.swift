import CurlHTTP
import OTLP

extension OTLPExporterConfiguration {
    /// Reads the configuration of `signal` from `environment`, following the OTel specification
    /// ("OTLP Exporter Configuration"): a signal-specific variable wins over the general one, a
    /// signal-specific endpoint is used as is, a general endpoint gets `/v1/<signal>` appended.
    ///
    /// Endpoint, in order: `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT` (as is), then the gateway's
    /// `OTEL_ENDPOINT`, then `OTEL_EXPORTER_OTLP_ENDPOINT` (base URLs, `/v1/<signal>` appended), then
    /// `http://localhost:4318/v1/<signal>`. `prefix` lets the GenAI traces exporter read its
    /// `EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_*` variables with the same rules (and the gateway's
    /// spellings of two of them: ``EnvironmentVariable/all``). Signal-specific names outside the
    /// table (`OTEL_EXPORTER_OTLP_TRACES_*`) are not read.
    public init(
        signal: Signal, environment: EnvironmentValues, prefix: String = EnvironmentVariable.metricsExporterPrefix
    ) throws(EnvironmentError) {
        let env = environment
        let signalName = signal.rawValue.uppercased()
        /// The rows of one setting: the signal-specific one (when the table has it), then the general one.
        func rows(_ suffix: String) -> [EnvironmentVariable] {
            [EnvironmentVariable.named("\(prefix)_\(signalName)_\(suffix)"), EnvironmentVariable.named("\(prefix)_\(suffix)")].compactMap { $0 }
        }
        /// The first of `rows(suffix)` that is set, read by `parse`.
        func first<T>(_ suffix: String, _ parse: (EnvironmentVariable) throws(EnvironmentError) -> T?) throws(EnvironmentError) -> T? {
            for row in rows(suffix) {
                if let v = try parse(row) { return v }
            }
            return nil
        }

        let specific = EnvironmentVariable.named("\(prefix)_\(signalName)_ENDPOINT")
        let general = EnvironmentVariable.named("\(prefix)_ENDPOINT")
        if let specific, let url = try env.url(specific) {
            self.init(endpoint: url)
        } else if prefix == EnvironmentVariable.metricsExporterPrefix, let base = try env.url(.otelEndpoint) {
            self.init(endpoint: Self.appendSignalPath(base, signal: signal))
        } else if let general, let base = try env.url(general) {
            self.init(endpoint: Self.appendSignalPath(base, signal: signal))
        } else {
            self.init(endpoint: Self.appendSignalPath(Self.defaultBaseEndpoint, signal: signal))
        }

        // Headers: the general list, then the signal-specific list overriding keys it repeats.
        for row in rows("HEADERS").reversed() {
            for (key, v) in try env.headers(row) {
                headers.removeAll { $0.name.lowercased() == key.lowercased() }
                headers.append((key, v))
            }
        }
        if let p = try first("PROTOCOL", env.choice) { wireProtocol = p == "http/json" ? .httpJSON : .httpProtobuf }
        if let c = try first("COMPRESSION", env.choice) { compression = c == "gzip" ? .gzip : .none }
        if let t = try first("TIMEOUT", env.milliseconds) { timeout = t }
        if let path = try first("CERTIFICATE", env.file) { tls.caFile = path }
        if let path = try first("CLIENT_CERTIFICATE", env.file) { tls.clientCertificateFile = path }
        if let path = try first("CLIENT_KEY", env.file) { tls.clientKeyFile = path }
        if (tls.clientCertificateFile == nil) != (tls.clientKeyFile == nil) {
            throw EnvironmentError(variable: "\(prefix)_CLIENT_CERTIFICATE", reason: "a client certificate and a client key must be set together")
        }
    }
}

extension OTLPResource {
    /// Attributes from `OTEL_RESOURCE_ATTRIBUTES` (or `attributesVariable`), with `service.name`
    /// from `OTEL_SERVICE_NAME` taking precedence, then the list's own, then `otel-bridge`.
    /// `service.name` comes first; the rest keep their order (a repeated key: the last wins). A
    /// value may hold `=`: each entry is split at its first.
    public static func attributes(
        environment: EnvironmentValues, attributesVariable: EnvironmentVariable = .resourceAttributes
    ) throws(EnvironmentError) -> [(key: String, value: String)] {
        var list: [(key: String, value: String)] = []
        for (key, value) in try environment.keyValues(attributesVariable) {
            list.removeAll { $0.key == key }
            list.append((key, value))
        }
        var serviceName = list.first { $0.key == "service.name" }?.value ?? defaultServiceName
        if let name = try environment.text(.serviceName) { serviceName = name }
        list.removeAll { $0.key == "service.name" }
        return [("service.name", serviceName)] + list
    }
}

extension EnvironmentValues {
    /// `.keyValues`: `k=v,k2=v2`, percent-decoded, each entry split at its first `=`.
    public func keyValues(_ variable: EnvironmentVariable) throws(EnvironmentError) -> [(key: String, value: String)] {
        guard let found = try lookup(variable) else { return [] }
        return try KeyValueList.parse(found.text, variable: found.spelling)
    }

    /// `.headers`: as ``keyValues(_:)``, each entry an HTTP header the exporter may send.
    public func headers(_ variable: EnvironmentVariable) throws(EnvironmentError) -> [(key: String, value: String)] {
        guard let found = try lookup(variable) else { return [] }
        return try KeyValueList.parseHeaders(found.text, variable: found.spelling)
    }
}
