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
    /// Ask for compressed results (`enable_http_compression=1`). `CLICKHOUSE_COMPRESSION`, default true.
    public var compression: Bool
    /// The encodings offered when `compression` is on (``CurlHTTP/HTTPRequest/acceptEncoding``):
    /// empty offers every one libcurl decodes, and ClickHouse, which picks by its own order, answers
    /// zstd; `gzip` or `zstd` (`CLICKHOUSE_COMPRESSION=gzip`, `=zstd`) offers that one alone.
    public var acceptEncoding: String
    /// TLS for `https://` URLs: `CLICKHOUSE_CA_FILE` (PEM bundle), verification always on.
    public var tls: TLSConfiguration

    public init(
        url: String = "http://localhost:8123", user: String = "default", password: String = "",
        database: String = "default", maxExecutionTime: Duration = .seconds(300),
        connectTimeout: Duration = .seconds(10), settings: [(name: String, value: String)] = [],
        compression: Bool = true, acceptEncoding: String = "", tls: TLSConfiguration = TLSConfiguration()
    ) {
        self.url = url
        self.user = user
        self.password = password
        self.database = database
        self.maxExecutionTime = maxExecutionTime
        self.connectTimeout = connectTimeout
        self.settings = settings
        self.compression = compression
        self.acceptEncoding = acceptEncoding
        self.tls = tls
    }

    // From the environment: `init(environment:)` in the Environment module.
}
