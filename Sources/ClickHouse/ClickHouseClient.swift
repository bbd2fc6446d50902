import CurlHTTP
import Logging
import UTCTime

/// A client of ClickHouse's HTTP interface.
///
/// Queries are POSTed with their values as `param_*` URL parameters; results stream back in
/// `RowBinaryWithNamesAndTypes` and are decoded row by row as the bytes arrive, so memory does not
/// grow with the result. The connection is kept alive across queries. Blocking: run it on a
/// dedicated thread. Not `Sendable`: one pass owns one client.
public final class ClickHouseClient {
    public let configuration: ClickHouseConfiguration
    private let http: HTTPClient
    private let logger: Logger
    private var queryCounter = 0
    /// Distinguishes this client's query ids from any other client's.
    private let token = String(UInt64.random(in: 0..<UInt64.max) & 0xFFFF_FFFF_FFFF, radix: 36)

    public init(configuration: ClickHouseConfiguration, logger: Logger = Logger(label: "otel-bridge.clickhouse")) {
        self.configuration = configuration
        self.logger = logger
        self.http = HTTPClient(configuration: .init(
            connectTimeout: configuration.connectTimeout, tls: configuration.tls, userAgent: "otel-bridge"))
    }

    /// Runs a SELECT and returns its rows as a stream. Close the stream (or read it to the end)
    /// before the next query.
    ///
    /// - Parameters:
    ///   - sql: the query text, with `{name:Type}` placeholders and without a FORMAT clause.
    ///   - parameters: the placeholders' values by name.
    ///   - queryID: sent as `query_id`, so the query can be found in `system.query_log`.
    public func query(
        _ sql: String, parameters: [(name: String, value: QueryParameter)] = [], queryID: String? = nil
    ) throws(ClickHouseError) -> ClickHouseRowStream {
        let id = queryID ?? nextQueryID()
        var urlParameters = [("default_format", "RowBinaryWithNamesAndTypes")]
        urlParameters += parameters.map { ("param_" + $0.name, $0.value.encoded) }
        let request = makeRequest(body: Array(sql.utf8), queryID: id, extra: urlParameters)
        logger.debug("ClickHouse query", metadata: ["query_id": "\(id)"])
        let stream = try open(request, queryID: id)
        try Self.checkStatus(stream, queryID: id)
        try Self.checkIsClickHouse(stream, queryID: id, endpoint: endpoint, result: true)
        let format = stream.head.header("X-ClickHouse-Format") ?? ""
        if format != "RowBinaryWithNamesAndTypes" {
            stream.close()
            throw ClickHouseError(
                code: .unexpectedResponse,
                message: "the result came as \(LogSafe.text(format, limit: 60)), not RowBinaryWithNamesAndTypes: remove the FORMAT clause from the query",
                httpStatus: stream.head.status, queryID: id, endpoint: endpoint)
        }
        return try ClickHouseRowStream(http: stream, queryID: id, endpoint: endpoint)
    }

    /// Runs a statement that returns no rows to decode (DDL, INSERT), with `data` as the body
    /// after the statement (for `INSERT … FORMAT JSONEachRow`). Returns the response text.
    /// Sent without `readonly`: for tests, the demo and administration, not for rollups.
    @discardableResult
    public func execute(
        _ sql: String, data: [UInt8]? = nil, parameters: [(name: String, value: QueryParameter)] = []
    ) throws(ClickHouseError) -> String {
        let id = nextQueryID()
        var extra = parameters.map { ("param_" + $0.name, $0.value.encoded) }
        let body: [UInt8]
        if let data {
            extra.append(("query", sql))
            body = data
        } else {
            body = Array(sql.utf8)
        }
        let request = makeRequest(body: body, queryID: id, extra: extra, readOnly: false)
        let stream = try open(request, queryID: id)
        defer { stream.close() }
        try Self.checkStatus(stream, queryID: id)
        try Self.checkIsClickHouse(stream, queryID: id, endpoint: endpoint, result: false)
        var text: [UInt8] = []
        do {
            while let chunk = try stream.next() { text += chunk }
        } catch {
            throw Self.transportFailure(error, queryID: id)
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Checks that the endpoint is up and is ClickHouse: `GET /ping` must answer 200 `Ok.`, and
    /// `SELECT 1` must come back as a ClickHouse result (its `X-ClickHouse-*` headers, the format
    /// asked for, one row holding 1). A login proxy or any other web server answering 200 fails
    /// with `.unexpectedResponse`; for `validate`.
    public func ping() throws(ClickHouseError) {
        let base = configuration.url.hasSuffix("/") ? String(configuration.url.dropLast()) : configuration.url
        let response: HTTPResponse
        do {
            response = try http.perform(HTTPRequest(method: .get, url: base + "/ping", timeout: .seconds(10)), maxBodyBytes: 64 * 1024)
        } catch {
            throw Self.transportFailure(error, queryID: nil)
        }
        guard response.status == 200 else {
            throw ClickHouseError(code: .unexpectedResponse, message: "GET /ping answered HTTP \(response.status)\(Self.describeForeign(response.head)), not ClickHouse's 200 Ok.",
                                  httpStatus: response.status, endpoint: endpoint)
        }
        var text = Substring(response.bodyText)
        while let last = text.unicodeScalars.last, last == "\n" || last == "\r" || last == " " {
            text = Substring(text.unicodeScalars.dropLast())
        }
        guard text == "Ok." else {
            throw ClickHouseError(code: .unexpectedResponse, message: "GET /ping answered 200 but not with ClickHouse's \"Ok.\"\(Self.describeForeign(response.head)): is CLICKHOUSE_URL a ClickHouse HTTP interface?",
                                  httpStatus: response.status, endpoint: endpoint)
        }
        let stream = try query("SELECT toUInt8(1) AS one")
        defer { stream.close() }
        let rows = try Self.readRows(stream, limit: 2)
        guard rows.count == 1, rows[0] == [.uint(1)] else {
            throw ClickHouseError(code: .unexpectedResponse, message: "SELECT 1 did not return the single row 1 (\(rows.count) rows)",
                                  queryID: stream.queryID, endpoint: endpoint)
        }
    }

    private static func readRows(_ stream: ClickHouseRowStream, limit: Int) throws(ClickHouseError) -> [[ClickHouseValue]] {
        var rows: [[ClickHouseValue]] = []
        var row: [ClickHouseValue] = []
        while rows.count < limit, try stream.next(into: &row) { rows.append(row) }
        return rows
    }

    /// `scheme://host:port/path` of the configured URL, for errors.
    private var endpoint: String { HTTPError.redactedURL(configuration.url) }

    /// Sends `request` and waits for the response head.
    private func open(_ request: HTTPRequest, queryID: String) throws(ClickHouseError) -> HTTPResponseStream {
        do {
            return try http.stream(request)
        } catch {
            throw Self.transportFailure(error, queryID: queryID)
        }
    }

    static func transportFailure(_ error: HTTPError, queryID: String?) -> ClickHouseError {
        ClickHouseError(code: .transport, message: LogSafe.text(error.message), queryID: queryID,
                        endpoint: error.endpoint, transportError: error)
    }

    private func nextQueryID() -> String {
        queryCounter += 1
        return "otel-bridge-\(token)-\(queryCounter)"
    }

    private func makeRequest(
        body: [UInt8], queryID: String, extra: [(String, String)], readOnly: Bool = true
    ) -> HTTPRequest {
        var items: [(String, String)] = [
            ("database", configuration.database),
            ("query_id", queryID),
        ]
        if readOnly {
            items.append(("readonly", "2"))
            // A profile may set overflow modes to 'break', which makes ClickHouse return a partial
            // result with status 200 and no exception. A rollup must never take that for complete.
            for setting in ["timeout_overflow_mode", "result_overflow_mode", "read_overflow_mode", "sort_overflow_mode",
                            "set_overflow_mode", "group_by_overflow_mode", "distinct_overflow_mode", "join_overflow_mode",
                            "transfer_overflow_mode"] {
                items.append((setting, "throw"))
            }
        }
        items.append(("max_execution_time", String(Self.wholeSeconds(configuration.maxExecutionTime))))
        if configuration.compression { items.append(("enable_http_compression", "1")) }
        for (name, value) in configuration.settings { items.append((name, value)) }
        items += extra
        let base = configuration.url.hasSuffix("/") ? String(configuration.url.dropLast()) : configuration.url
        return HTTPRequest(
            method: .post,
            url: base + "/?" + URLEncoding.query(items),
            headers: [
                ("X-ClickHouse-User", configuration.user),
                ("X-ClickHouse-Key", configuration.password),
                ("Content-Type", "text/plain; charset=UTF-8"),
            ],
            body: body,
            // The server enforces max_execution_time. The client has no total limit, because a
            // streamed result is paused while the pass exports a batch; a transfer that receives
            // nothing for max_execution_time + 10 s (and is not paused) is abandoned instead.
            timeout: nil, stallTimeout: configuration.maxExecutionTime + .seconds(10),
            acceptEncoding: configuration.compression ? configuration.acceptEncoding : "")
    }

    /// `duration` rounded up to whole seconds within 1 … 10^9: ClickHouse reads 0 as "no limit",
    /// and no configured value may trap the conversion.
    static func wholeSeconds(_ duration: Duration) -> Int64 {
        duration.wholeSeconds(roundingUp: true, clampedTo: 1...1_000_000_000)
    }

    /// Fails unless the response head is ClickHouse's answer to a query: status 200 and the
    /// `X-ClickHouse-Query-Id` header (and, for a result, `X-ClickHouse-Format`) that every
    /// ClickHouse server sends. A redirect (never followed), a 204, any other 1xx–3xx, or a 200
    /// from a proxy or login page is never read as rows.
    static func checkIsClickHouse(_ stream: HTTPResponseStream, queryID: String, endpoint: String, result: Bool) throws(ClickHouseError) {
        let head = stream.head
        var problem: String?
        if (300..<400).contains(head.status) {
            problem = "a redirect (HTTP \(head.status)), which otel-bridge does not follow: set CLICKHOUSE_URL to the ClickHouse HTTP interface itself"
        } else if head.status != 200 {
            problem = "HTTP \(head.status)\(describeForeign(head)), where ClickHouse answers a query with 200 or an error status"
        } else if head.header("X-ClickHouse-Query-Id") == nil || (result && head.header("X-ClickHouse-Format") == nil) {
            problem = "HTTP 200 without ClickHouse's X-ClickHouse-Query-Id/X-ClickHouse-Format headers\(describeForeign(head)): is CLICKHOUSE_URL a ClickHouse HTTP interface (not a proxy or login page)?"
        }
        guard let problem else { return }
        stream.close()
        throw ClickHouseError(code: .unexpectedResponse, message: "the answer is not ClickHouse's: " + problem,
                              httpStatus: head.status, queryID: queryID, endpoint: endpoint)
    }

    /// ` (Content-Type text/html)`, for messages about answers that are not ClickHouse's.
    static func describeForeign(_ head: HTTPResponseHead) -> String {
        guard let type = head.header("Content-Type") else { return "" }
        return " (Content-Type \(LogSafe.text(type, limit: 80)))"
    }

    /// Turns a status >= 400, or a success carrying `X-ClickHouse-Exception-Code`, into an error.
    static func checkStatus(_ stream: HTTPResponseStream, queryID: String) throws(ClickHouseError) {
        let head = stream.head
        let headerCode = head.header("X-ClickHouse-Exception-Code").flatMap { Int($0) }
        guard head.status >= 400 || headerCode != nil else { return }
        var body: [UInt8] = []
        while body.count < 64 * 1024, let chunk = try? stream.next() { body += chunk }
        stream.close()
        let text = String(decoding: body, as: UTF8.self)
        let parsed = ClickHouseExceptionText(parsing: text)
        let code = headerCode ?? parsed?.code
        let isAuth = code.map { [192, 193, 194, 516].contains($0) } ?? false
        // Bodies are the server's (or a proxy's): bounded and with control characters escaped.
        throw ClickHouseError(
            code: isAuth ? .authentication : (code == nil ? .unexpectedResponse : .server),
            message: parsed.map { LogSafe.text($0.message, limit: ClickHouseError.serverMessageLimit) }
                ?? (text.isEmpty ? "HTTP \(head.status) with an empty body" : "HTTP \(head.status)\(describeForeign(head)): " + LogSafe.text(text)),
            serverCode: code, serverName: parsed?.name.map { LogSafe.text($0, limit: 80) }, httpStatus: head.status, queryID: queryID)
    }
}
