import CurlHTTP

/// The rows of one query, decoded as they arrive.
///
/// Memory holds the bytes of the current network chunk and the current row, whatever the size
/// of the result. An exception that ClickHouse writes into the body after the result started is
/// detected and thrown as `.midStream`; a stream that ends in the middle of a row is never
/// taken for a shorter result:
///
/// - ClickHouse 25.11+ sends `X-ClickHouse-Exception-Tag: TAG` and, on failure, appends
///   `__exception__\r\nTAG\r\n<message>\n<length> TAG\r\n__exception__\r\n`. The reader looks for the
///   opening marker in the raw bytes *before* decoding them, so no byte of the exception is ever
///   decoded as a row.
/// - Older servers append `Code: N. DB::Exception: …` (25.1 preceded it with `__exception__`) and
///   usually break the chunked encoding. Without a tag the reader holds back the last 16 KiB of the
///   body until it ends and looks for that text ending it, so it is never decoded as rows either
///   (even when the server cut a row in half); a broken transfer fails the stream in any case.
public final class ClickHouseRowStream {
    public typealias Column = ClickHouseColumn

    /// The result's columns (known once the stream is returned).
    public var columns: [ClickHouseColumn] { decoder.columns ?? [] }
    public let queryID: String
    /// Rows decoded so far.
    public private(set) var rowsRead = 0
    /// Result bytes received so far (after decompression).
    public private(set) var bytesRead = 0

    private let http: HTTPResponseStream
    private let endpoint: String
    private var decoder = RowBinaryDecoder()
    private var transportEnded = false
    private var finished = false
    /// Present when the server announced an exception tag (25.11+).
    private var scanner: TaggedExceptionScanner?
    /// Without a tag: the last bytes of the body, held back until the end (see the type's doc).
    private var heldBack: [UInt8] = []
    static let holdBack = 16 * 1024

    init(http: HTTPResponseStream, queryID: String, endpoint: String) throws(ClickHouseError) {
        self.http = http
        self.queryID = queryID
        self.endpoint = endpoint
        if let tag = http.head.header("X-ClickHouse-Exception-Tag"), !tag.isEmpty {
            scanner = TaggedExceptionScanner(tag: tag)
        }
        do throws(ClickHouseError) {
            while try !decoder.decodeHeader() {
                if transportEnded {
                    try finish()  // throws if the server reported an error
                    throw ClickHouseError(code: .decoding, message: "the result ended before its header was complete (\(decoder.pendingBytes.count) bytes)")
                }
                try refill()
            }
        } catch {
            throw located(error)
        }
    }

    deinit { http.close() }

    /// Decodes the next row into `row` (resized to the column count). Returns `false` at the end.
    public func next(into row: inout [ClickHouseValue]) throws(ClickHouseError) -> Bool {
        try next { (decoder: inout RowBinaryDecoder, n: Int) throws(ClickHouseError) -> Bool in try decoder.decodeRow(into: &row, rowNumber: n) }
    }

    /// Reads the next row: the columns `decode` marks decoded into `row`, every column's bytes
    /// located in `raw` (``RowBinaryDecoder/decodeRow(into:raw:decode:rowNumber:)``).
    public func next(into row: inout [ClickHouseValue], raw: inout RawRow, decode: [Bool]) throws(ClickHouseError) -> Bool {
        try next { (decoder: inout RowBinaryDecoder, n: Int) throws(ClickHouseError) -> Bool in
            try decoder.decodeRow(into: &row, raw: &raw, decode: decode, rowNumber: n)
        }
    }

    @inline(__always)
    private func next(_ decodeRow: (inout RowBinaryDecoder, Int) throws(ClickHouseError) -> Bool) throws(ClickHouseError) -> Bool {
        if finished { return false }
        do throws(ClickHouseError) {
            while true {
                if try decodeRow(&decoder, rowsRead + 1) {
                    rowsRead += 1
                    return true
                }
                if transportEnded {
                    try finish()
                    return false
                }
                try refill()
            }
        } catch {
            throw located(error)
        }
    }

    /// Stops reading (aborting the transfer if rows remain).
    public func close() {
        finished = true
        http.close()
    }

    // MARK: - Internals

    /// Adds the query id and endpoint to a decoder error and ends the transfer.
    private func located(_ error: ClickHouseError) -> ClickHouseError {
        var e = error
        if e.queryID == nil { e.queryID = queryID }
        if e.endpoint.isEmpty { e.endpoint = endpoint }
        if e.code == .decoding { close() }
        return e
    }

    /// Feeds the next network chunk to the decoder, holding back bytes that may start the
    /// exception marker.
    private func refill() throws(ClickHouseError) {
        let chunk: [UInt8]?
        do {
            chunk = try http.next()
        } catch {
            // A broken transfer: an older server's exception text, if any, explains it.
            transportEnded = true
            if let legacy = ClickHouseExceptionText.trailing(in: decoder.pendingBytes + heldBack) { throw midStream(legacy) }
            throw ClickHouseClient.transportFailure(error, queryID: queryID)
        }
        guard let chunk else {
            transportEnded = true
            if scanner != nil { decoder.feed(scanner!.finish()) }
            if let legacy = legacyException(atEndOf: heldBack) { throw midStream(legacy) }
            decoder.feed(heldBack)
            heldBack = []
            return
        }
        bytesRead += chunk.count
        guard scanner != nil else {
            heldBack += chunk
            if heldBack.count > Self.holdBack {
                let release = heldBack.count - Self.holdBack
                decoder.feed(heldBack[..<release])
                heldBack.removeFirst(release)
            }
            return
        }
        scanner!.feed(chunk) { decoder.feed($0) }
        if scanner!.exceptionBlock != nil {
            // Read the rest of the block (bounded) and fail.
            while (scanner!.exceptionBlock?.count ?? 0) < 1 << 20, let more = try? http.next() {
                _ = scanner!.feed(more)
            }
            throw midStream(scanner!.exception ?? ClickHouseExceptionText(message: "exception after the result started"))
        }
    }

    /// An older server's exception text ending a body that ended cleanly. It is recognised only
    /// when it runs to the very end in ClickHouse's own shape (`Code: N. DB::Exception: … (version
    /// …)`): a cut into the middle of a row would otherwise be decoded as data, while a string value
    /// that merely mentions an exception does not end the result that way.
    private func legacyException(atEndOf tail: [UInt8]) -> ClickHouseExceptionText? {
        var text = String(decoding: tail.suffix(64 * 1024), as: UTF8.self)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        // A 25.11+ block whose X-ClickHouse-Exception-Tag header was lost on the way (a proxy):
        // "…<message>\n<length> <TAG>\r\n__exception__".
        if text.hasSuffix("__exception__"), let close = text.range(ofASCII: "\r\n__exception__", backwards: true) {
            text = String(text[..<close.lowerBound])
            guard let newline = text.lastIndex(of: "\n") else { return nil }
            text = String(text[..<newline])
            while let last = text.last, last.isWhitespace { text.removeLast() }
        }
        guard let code = text.range(ofASCII: "Code: ", backwards: true),
              text[code.lowerBound...].range(ofASCII: "DB::Exception") != nil,
              text[code.lowerBound...].range(ofASCII: "(version ") != nil, text.hasSuffix(")") else { return nil }
        return ClickHouseExceptionText(parsing: String(text[code.lowerBound...]))
    }

    private func midStream(_ exception: ClickHouseExceptionText) -> ClickHouseError {
        http.close()
        finished = true
        return ClickHouseError(
            code: .midStream, message: LogSafe.text(exception.message, limit: ClickHouseError.serverMessageLimit),
            serverCode: exception.code, serverName: exception.name.map { LogSafe.text($0, limit: 80) },
            httpStatus: http.head.status, queryID: queryID, endpoint: endpoint)
    }

    /// The end of the transfer: the body must have ended on a row boundary with no exception.
    private func finish() throws(ClickHouseError) {
        finished = true
        let rest = decoder.pendingBytes
        if let code = http.head.header("X-ClickHouse-Exception-Code").flatMap({ Int($0) }) {
            // Sent as an HTTP trailer by servers that can.
            let parsed = ClickHouseExceptionText(parsing: String(decoding: rest, as: UTF8.self))
            throw ClickHouseError(code: .midStream, message: parsed.map { LogSafe.text($0.message, limit: ClickHouseError.serverMessageLimit) }
                                    ?? "the server reported exception \(code) after the result started",
                                  serverCode: code, serverName: parsed?.name.map { LogSafe.text($0, limit: 80) }, httpStatus: http.head.status, queryID: queryID, endpoint: endpoint)
        }
        if !rest.isEmpty {
            if let legacy = ClickHouseExceptionText.trailing(in: rest) { throw midStream(legacy) }
            throw ClickHouseError(code: .decoding, message: "the result ended in the middle of row \(rowsRead + 1) (\(rest.count) bytes left over)",
                                  queryID: queryID, endpoint: endpoint)
        }
    }
}
