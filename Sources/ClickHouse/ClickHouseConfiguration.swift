import CurlHTTP
import UTCTime

/// Where and how the bridge reaches ClickHouse's HTTP interface.
public struct ClickHouseConfiguration: Sendable {
    /// HTTP(S) base URL of the interface. `CLICKHOUSE_URL`, default `http://localhost:8123`.
    public var url: String
    /// Sent as `X-ClickHouse-User`. `CLICKHOUSE_USER`, default `default`.
    public var user: String
    /// Sent as `X-ClickHouse-Key`. `CLICKHOUSE_PASSWORD`, default empty. Never logged.
    public var password: String
    /// Database of unqualified table names (the `database` URL parameter). `CLICKHOUSE_DATABASE`, default `default`.
    public var database: String
    /// Server-side limit of one query, sent as the `max_execution_time` setting.
    /// `CLICKHOUSE_MAX_EXECUTION_TIME` (seconds), default 300.
    public var maxExecutionTime: Duration
    /// Limit for the TCP/TLS connect. `CLICKHOUSE_CONNECT_TIMEOUT` (seconds), default 10.
    public var connectTimeout: Duration
    /// Extra settings sent with every query as URL parameters (after `readonly=2`, which allows
    /// only reads but still lets the bridge set `max_execution_time`).
    public var settings: [(name: String, value: String)]
    /// Ask for gzip-compressed results (`enable_http_compression=1`). `CLICKHOUSE_COMPRESSION`, default true.
    public var compression: Bool
    /// TLS for `https://` URLs: `CLICKHOUSE_CA_FILE` (PEM bundle), verification always on.
    public var tls: TLSConfiguration

    public init(
        url: String = "http://localhost:8123", user: String = "default", password: String = "",
        database: String = "default", maxExecutionTime: Duration = .seconds(300),
        connectTimeout: Duration = .seconds(10), settings: [(name: String, value: String)] = [],
        compression: Bool = true, tls: TLSConfiguration = TLSConfiguration()
    ) {
        self.url = url
        self.user = user
        self.password = password
        self.database = database
        self.maxExecutionTime = maxExecutionTime
        self.connectTimeout = connectTimeout
        self.settings = settings
        self.compression = compression
        self.tls = tls
    }

    /// Bounds of `CLICKHOUSE_MAX_EXECUTION_TIME`: 1 s … 1 day (ClickHouse reads 0 as "no limit").
    public static let maxExecutionTimeRange: ClosedRange<Duration> = .seconds(1) ... .seconds(86_400)
    /// Bounds of `CLICKHOUSE_CONNECT_TIMEOUT`: 1 ms … 1 h (libcurl reads 0 as "no limit").
    public static let connectTimeoutRange: ClosedRange<Duration> = .milliseconds(1) ... .seconds(3_600)

    /// Reads the `CLICKHOUSE_*` variables from `environment`; unset ones keep their defaults.
    ///
    /// `CLICKHOUSE_USER` and `CLICKHOUSE_PASSWORD` lose one trailing line break (`\n` or `\r\n`),
    /// which a Kubernetes Secret mounted from a file usually carries; any other control character
    /// in them, or in `CLICKHOUSE_DATABASE`, is an error that does not show the value. Numbers are
    /// range-checked (see ``maxExecutionTimeRange`` and ``connectTimeoutRange``), file paths must
    /// name readable files, and no error shows a password or a URL's credentials.
    public init(environment: [String: String]) throws(ClickHouseError) {
        self.init()
        func value(_ name: String) -> String? {
            guard let v = environment[name], !v.isEmpty else { return nil }
            return v
        }
        func seconds(_ name: String, within range: ClosedRange<Duration>) throws(ClickHouseError) -> Duration? {
            guard let text = value(name) else { return nil }
            let bounds = "\(range.lowerBound.secondsDescription) … \(range.upperBound.secondsDescription) seconds"
            // Checked in Double before any conversion: 1e20, NaN, inf and negatives never reach Int64.
            guard let s = Double(text.trimmingASCIISpaces), s.isFinite,
                  s * 1000 >= range.lowerBound.inMilliseconds, s <= range.upperBound.inSeconds,
                  let duration = Duration(seconds: s, roundingMilliseconds: .up)
            else {
                throw ClickHouseError(code: .configuration, message: "\(name) must be a number of seconds within \(bounds), got '\(LogSafe.text(text, limit: 40))'")
            }
            return duration
        }
        /// A credential or name that goes into a header or URL: one trailing line break dropped,
        /// no other control character allowed; the value is never echoed.
        func credential(_ name: String, _ raw: String) throws(ClickHouseError) -> String {
            var bytes = Array(raw.utf8)
            if bytes.last == 0x0A {
                bytes.removeLast()
                if bytes.last == 0x0D { bytes.removeLast() }
            } else if bytes.last == 0x0D {
                bytes.removeLast()
            }
            let text = String(decoding: bytes, as: UTF8.self)
            guard LogSafe.isHeaderValueSafe(text), !text.utf8.contains(0x09) else {
                throw ClickHouseError(code: .configuration, message: "\(name) contains a control character (other than one trailing line break); its value is not shown")
            }
            return text
        }
        if let v = value("CLICKHOUSE_URL") { url = v }
        if let v = value("CLICKHOUSE_USER") { user = try credential("CLICKHOUSE_USER", v) }
        if let v = environment["CLICKHOUSE_PASSWORD"] { password = try credential("CLICKHOUSE_PASSWORD", v) }
        if let v = value("CLICKHOUSE_DATABASE") { database = try credential("CLICKHOUSE_DATABASE", v) }
        if let v = try seconds("CLICKHOUSE_MAX_EXECUTION_TIME", within: Self.maxExecutionTimeRange) { maxExecutionTime = v }
        if let v = try seconds("CLICKHOUSE_CONNECT_TIMEOUT", within: Self.connectTimeoutRange) { connectTimeout = v }
        if let v = value("CLICKHOUSE_COMPRESSION") {
            switch v.lowercased() {
            case "true", "1", "gzip": compression = true
            case "false", "0", "none": compression = false
            default:
                throw ClickHouseError(code: .configuration, message: "CLICKHOUSE_COMPRESSION must be true or false, got '\(LogSafe.text(v, limit: 40))'")
            }
        }
        if let v = value("CLICKHOUSE_CA_FILE") {
            if let why = TLSConfiguration.unreadableReason(v) {
                throw ClickHouseError(code: .configuration, message: "CLICKHOUSE_CA_FILE: \(LogSafe.text(why))")
            }
            tls.caFile = v
        }
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            // Without a scheme the text may be `user:password@host`: it is never echoed.
            throw ClickHouseError(code: .configuration, message: "CLICKHOUSE_URL must start with http:// or https:// (the value is not shown, as it may hold credentials)")
        }
        guard HTTPError.isWellFormedHTTPURL(url), LogSafe.isHeaderValueSafe(url), !url.contains(" ") else {
            throw ClickHouseError(code: .configuration, message: "CLICKHOUSE_URL is not a valid http(s) URL: its host part must be host[:port] (percent-encode '/', '?', '#' and '@' in a password); the value is not shown")
        }
    }

}

extension String {
    var trimmingASCIISpaces: Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
