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
/// - Older servers append `Code: N. DB::Exception: …` and usually break the chunked encoding; both
///   the broken transfer and the trailing text fail the stream.
public final class ClickHouseRowStream {
    public struct Column: Sendable, Equatable {
        public var name: String
        public var type: ClickHouseType
        /// The type as ClickHouse wrote it (`LowCardinality(String)`).
        public var typeName: String
    }

    public private(set) var columns: [Column] = []
    public let queryID: String
    /// Rows decoded so far.
    public private(set) var rowsRead = 0
    /// Result bytes received so far (after decompression).
    public private(set) var bytesRead = 0

    private let http: HTTPResponseStream
    private let endpoint: String
    private var buffer: [UInt8] = []
    private var position = 0
    private var transportEnded = false
    private var finished = false
    /// Present when the server announced an exception tag (25.11+).
    private var scanner: TaggedExceptionScanner?

    init(http: HTTPResponseStream, queryID: String, endpoint: String) throws(ClickHouseError) {
        self.http = http
        self.queryID = queryID
        self.endpoint = endpoint
        if let tag = http.head.header("X-ClickHouse-Exception-Tag"), !tag.isEmpty {
            scanner = TaggedExceptionScanner(tag: tag)
        }
        try readHeader()
    }

    deinit { http.close() }

    /// Decodes the next row into `row` (resized to the column count). Returns `false` at the end.
    public func next(into row: inout [ClickHouseValue]) throws(ClickHouseError) -> Bool {
        if finished { return false }
        if row.count != columns.count { row = Array(repeating: .null, count: columns.count) }
        while true {
            if position < buffer.count {
                let columns = self.columns
                let start = position
                let result = buffer.withUnsafeBytes { raw in
                    Result { () throws(RowBinaryFailure) -> Int in
                        var reader = RowBinary.Reader(bytes: raw, offset: start)
                        for i in 0..<columns.count {
                            row[i] = try RowBinary.decode(columns[i].type, &reader)
                        }
                        return reader.offset
                    }
                }
                switch result {
                case .success(let end):
                    position = end
                    rowsRead += 1
                    return true
                case .failure(.invalid(let why)):
                    throw decodingFailure("row \(rowsRead + 1): \(why)")
                case .failure(.underflow):
                    break
                }
            }
            if transportEnded {
                try finish()
                return false
            }
            try refill()
        }
    }

    /// Stops reading (aborting the transfer if rows remain).
    public func close() {
        finished = true
        http.close()
    }

    // MARK: - Internals

    private func readHeader() throws(ClickHouseError) {
        while true {
            let parsed: Result<(Int, [Column]), RowBinaryFailure> = buffer.withUnsafeBytes { raw in
                var r = RowBinary.Reader(bytes: raw, offset: position)
                do {
                    let count = try r.varUInt()
                    guard count <= 10_000 else { throw RowBinaryFailure.invalid("a column count of \(count)") }
                    var names: [String] = []
                    for _ in 0..<count { names.append(try r.string()) }
                    var types: [String] = []
                    for _ in 0..<count { types.append(try r.string()) }
                    var columns: [Column] = []
                    for (name, typeName) in zip(names, types) {
                        guard let type = try? ClickHouseType(parsing: typeName) else {
                            throw RowBinaryFailure.invalid("column \(name) has type \(typeName), which otel-bridge cannot decode")
                        }
                        columns.append(Column(name: name, type: type, typeName: typeName))
                    }
                    return .success((r.offset, columns))
                } catch let failure as RowBinaryFailure {
                    return .failure(failure)
                } catch {
                    return .failure(.invalid("\(error)"))
                }
            }
            switch parsed {
            case .success(let (end, columns)):
                position = end
                self.columns = columns
                return
            case .failure(.invalid(let why)):
                throw decodingFailure("result header: \(why)")
            case .failure(.underflow):
                if transportEnded {
                    try finish()  // throws if the server reported an error
                    throw decodingFailure("the result ended before its header was complete (\(buffer.count - position) bytes)")
                }
                try refill()
            }
        }
    }

    /// Appends the next network chunk to the buffer, holding back bytes that may start the
    /// exception marker.
    private func refill() throws(ClickHouseError) {
        let chunk: [UInt8]?
        do {
            chunk = try http.next()
        } catch {
            // A broken transfer: an older server's exception text, if any, explains it.
            transportEnded = true
            if let legacy = ClickHouseExceptionText.trailing(in: buffer[position...]) { throw midStream(legacy) }
            throw ClickHouseError(code: .transport, message: error.message, queryID: queryID,
                                  endpoint: error.endpoint, transportError: error)
        }
        if position > 0 && position * 2 >= buffer.count {
            buffer.removeSubrange(0..<position)
            position = 0
        }
        guard let chunk else {
            transportEnded = true
            if scanner != nil { buffer += scanner!.finish() }
            return
        }
        bytesRead += chunk.count
        guard scanner != nil else {
            buffer += chunk
            return
        }
        buffer += scanner!.feed(chunk)
        if scanner!.exceptionBlock != nil {
            // Read the rest of the block (bounded) and fail.
            while (scanner!.exceptionBlock?.count ?? 0) < 1 << 20, let more = try? http.next() {
                _ = scanner!.feed(more)
            }
            throw midStream(scanner!.exception ?? ClickHouseExceptionText(message: "exception after the result started"))
        }
    }

    private func midStream(_ exception: ClickHouseExceptionText) -> ClickHouseError {
        http.close()
        finished = true
        return ClickHouseError(
            code: .midStream, message: exception.message, serverCode: exception.code,
            serverName: exception.name, httpStatus: http.head.status, queryID: queryID, endpoint: endpoint)
    }

    /// The end of the transfer: the body must have ended on a row boundary with no exception.
    private func finish() throws(ClickHouseError) {
        finished = true
        let rest = buffer[position...]
        if let code = http.head.header("X-ClickHouse-Exception-Code").flatMap({ Int($0) }) {
            // Sent as an HTTP trailer by servers that can.
            let parsed = ClickHouseExceptionText(parsing: String(decoding: rest, as: UTF8.self))
            throw ClickHouseError(code: .midStream, message: parsed?.message ?? "the server reported exception \(code) after the result started",
                                  serverCode: code, serverName: parsed?.name, httpStatus: http.head.status, queryID: queryID, endpoint: endpoint)
        }
        if !rest.isEmpty {
            if let legacy = ClickHouseExceptionText.trailing(in: rest) { throw midStream(legacy) }
            throw decodingFailure("the result ended in the middle of row \(rowsRead + 1) (\(rest.count) bytes left over)")
        }
    }

    private func decodingFailure(_ why: String) -> ClickHouseError {
        http.close()
        finished = true
        return ClickHouseError(code: .decoding, message: why, queryID: queryID, endpoint: endpoint)
    }
}
