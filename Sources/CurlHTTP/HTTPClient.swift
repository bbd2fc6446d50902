import CCurl
import UTCTime

/// A blocking HTTP/1.1 client over one libcurl easy handle, driven through a multi handle so that
/// response bodies can be pulled chunk by chunk with backpressure.
///
/// One instance serves one request at a time and keeps its connections alive between requests
/// (ClickHouse queries and OTLP exports each reuse theirs). It blocks the calling thread: callers
/// run it on a dedicated thread, never on Swift's cooperative pool. It is not `Sendable`: one
/// pass owns it.
/// `@unchecked Sendable`: it owns a libcurl easy handle (a C handle), which must not be used by two
/// threads at once. The bridge keeps that by construction: a client belongs to one exporter or
/// ClickHouse client, and a pass uses it from one thread at a time (its worker sends, its own
/// thread queries). Its one other mutable field, the response stream in progress, goes with the
/// handle.
public final class HTTPClient: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Limit for establishing a connection (TCP and TLS).
        public var connectTimeout: Duration
        public var tls: TLSConfiguration
        public var userAgent: String
        /// Bytes the client buffers from a streamed body before it pauses the transfer.
        public var streamHighWater: Int

        public init(
            connectTimeout: Duration = .seconds(10),
            tls: TLSConfiguration = TLSConfiguration(),
            userAgent: String = "otel-bridge",
            streamHighWater: Int = 256 * 1024
        ) {
            self.connectTimeout = connectTimeout
            self.tls = tls
            self.userAgent = userAgent
            self.streamHighWater = streamHighWater
        }
    }

    public let configuration: Configuration
    private let easy: UnsafeMutableRawPointer
    private let multi: UnsafeMutableRawPointer
    private var active: HTTPResponseStream.State?

    public init(configuration: Configuration = Configuration()) {
        _ = curlGlobalInit
        guard let easy = curl_easy_init(), let multi = curl_multi_init() else {
            fatalError("libcurl could not allocate a handle (out of memory)")
        }
        self.configuration = configuration
        self.easy = easy
        self.multi = multi
    }

    deinit {
        if active != nil { curl_multi_remove_handle(multi, easy) }
        curl_multi_cleanup(multi)
        curl_easy_cleanup(easy)
    }

    /// Sends `request` and returns the whole response. `maxBodyBytes` bounds what is buffered.
    public func perform(_ request: HTTPRequest, maxBodyBytes: Int = 64 * 1024 * 1024) throws(HTTPError) -> HTTPResponse {
        let stream = try self.stream(request)
        defer { stream.close() }
        var body: [UInt8] = []
        while let chunk = try stream.next() {
            if body.count + chunk.count > maxBodyBytes {
                throw HTTPError(
                    code: .bodyTooLarge, endpoint: HTTPError.redactedURL(request.url),
                    message: "response body exceeds \(maxBodyBytes) bytes")
            }
            body.append(contentsOf: chunk)
        }
        return HTTPResponse(head: stream.head, body: body)
    }

    /// Sends `request` and returns once the response head has arrived; the body is then read with
    /// `next()`. Close the stream (or read it to its end) before the next request.
    public func stream(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponseStream {
        precondition(active == nil, "HTTPClient serves one request at a time; close the previous stream first")
        let state = HTTPResponseStream.State(
            endpoint: HTTPError.redactedURL(request.url), highWater: configuration.streamHighWater)
        try configure(request, state: state)
        let rc = curl_multi_add_handle(multi, easy)
        guard rc == CURLM_OK else {
            state.release()
            throw HTTPError(code: .transferFailed, endpoint: state.endpoint,
                            message: "curl_multi_add_handle: " + String(cString: curl_multi_strerror(rc)))
        }
        active = state
        let stream = HTTPResponseStream(client: self, state: state)
        do {
            try pump(state) { $0.headComplete }
            try state.throwIfFailed()
        } catch {
            stream.close()
            throw error
        }
        return stream
    }

    // MARK: - Transfer machinery (used by HTTPResponseStream)

    /// Drives the transfer until `condition` holds or the transfer ends.
    func pump(_ state: HTTPResponseStream.State, until condition: (HTTPResponseStream.State) -> Bool) throws(HTTPError) {
        while !condition(state) && !state.finished {
            var running: Int32 = 0
            let rc = curl_multi_perform(multi, &running)
            guard rc == CURLM_OK else {
                throw HTTPError(code: .transferFailed, endpoint: state.endpoint,
                                message: "curl_multi_perform: " + String(cString: curl_multi_strerror(rc)))
            }
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                if message.pointee.msg == CURLMSG_DONE {
                    state.finish(result: message.pointee.data.result, errorBuffer: state.errorBuffer)
                }
            }
            if condition(state) || state.finished { break }
            var ready: Int32 = 0
            _ = curl_multi_poll(multi, nil, 0, 250, &ready)
        }
    }

    func resume() {
        curl_easy_pause(easy, otb_curl_pause_continue())
    }

    func end(_ state: HTTPResponseStream.State) {
        guard active === state else { return }
        curl_multi_remove_handle(multi, easy)
        // The error buffer belongs to the state, which may go away before the next request.
        _ = otb_curl_setopt_pointer(easy, CURLOPT_ERRORBUFFER, nil)
        active = nil
        state.release()
    }

    private func configure(_ request: HTTPRequest, state: HTTPResponseStream.State) throws(HTTPError) {
        curl_easy_reset(easy)
        var failed: CURLcode = CURLE_OK
        func set(_ rc: CURLcode) { if rc != CURLE_OK && failed == CURLE_OK { failed = rc } }

        set(otb_curl_setopt_string(easy, CURLOPT_URL, request.url))
        set(otb_curl_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https"))
        set(otb_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        set(otb_curl_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1))
        // libcurl reads 0 as "no limit": a limit is never allowed to round down to 0.
        set(otb_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, configuration.connectTimeout.curlMilliseconds))
        if let timeout = request.timeout {
            set(otb_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, timeout.curlMilliseconds))
        }
        if let stall = request.stallTimeout {
            set(otb_curl_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, 1))
            set(otb_curl_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, max(1, stall.curlMilliseconds / 1000)))
        }
        // A redirect is never followed: a 3xx is handed to the caller, which fails on it (a login
        // proxy or a moved endpoint must not receive the credentials or be taken for the server).
        set(otb_curl_setopt_long(easy, CURLOPT_FOLLOWLOCATION, 0))
        set(otb_curl_setopt_long(easy, CURLOPT_MAXREDIRS, 0))
        // A proxy's "200 Connection established" must not be taken for the server's response head.
        set(otb_curl_setopt_long(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1))
        set(otb_curl_setopt_string(easy, CURLOPT_USERAGENT, configuration.userAgent))
        // Offer the encodings the request names (empty: every one libcurl can decode) and decode
        // the body transparently.
        set(otb_curl_setopt_string(easy, CURLOPT_ACCEPT_ENCODING, request.acceptEncoding))
        set(otb_curl_setopt_long(easy, CURLOPT_BUFFERSIZE, 64 * 1024))

        let tls = configuration.tls
        set(otb_curl_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, tls.verifyPeer ? 1 : 0))
        set(otb_curl_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, tls.verifyPeer ? 2 : 0))
        if let ca = tls.caFile { set(otb_curl_setopt_string(easy, CURLOPT_CAINFO, ca)) }
        if let cert = tls.clientCertificateFile { set(otb_curl_setopt_string(easy, CURLOPT_SSLCERT, cert)) }
        if let key = tls.clientKeyFile { set(otb_curl_setopt_string(easy, CURLOPT_SSLKEY, key)) }

        let context = Unmanaged.passUnretained(state).toOpaque()
        switch request.method {
        case .get:
            set(otb_curl_setopt_long(easy, CURLOPT_HTTPGET, 1))
        case .post:
            set(otb_curl_setopt_long(easy, CURLOPT_POST, 1))
            set(otb_curl_setopt_offset(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
            // libcurl reads the body from the state as it sends it (no copy of the whole body of
            // its own), and rewinds it when it sends it again (a reused connection that had died).
            state.upload = request.body
            set(otb_curl_setopt_data_callback(easy, CURLOPT_READFUNCTION, curlReadCallback))
            set(otb_curl_setopt_pointer(easy, CURLOPT_READDATA, context))
            set(otb_curl_setopt_seek_callback(easy, CURLOPT_SEEKFUNCTION, curlSeekCallback))
            set(otb_curl_setopt_pointer(easy, CURLOPT_SEEKDATA, context))
        }

        // A CR or LF would end the field and start another (header injection), a NUL would cut
        // it: such a header is refused, naming the field but never its value.
        for (index, header) in request.headers.enumerated() {
            guard LogSafe.isToken(header.name), LogSafe.isHeaderValueSafe(header.value) else {
                state.release()
                throw HTTPError(code: .invalidRequest, endpoint: state.endpoint,
                                message: "header \(index + 1) (\(LogSafe.isToken(header.name) ? header.name : "with an invalid name")) contains a control character or an invalid name; its value is not shown")
            }
        }
        // "Expect:" suppresses the 100-continue round trip libcurl adds to larger POSTs.
        var list: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Expect:")
        for (name, value) in request.headers {
            list = curl_slist_append(list, "\(name): \(value)")
        }
        state.headerList = list
        set(otb_curl_setopt_slist(easy, CURLOPT_HTTPHEADER, list))

        set(otb_curl_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, curlWriteCallback))
        set(otb_curl_setopt_pointer(easy, CURLOPT_WRITEDATA, context))
        set(otb_curl_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, curlHeaderCallback))
        set(otb_curl_setopt_pointer(easy, CURLOPT_HEADERDATA, context))
        set(otb_curl_setopt_pointer(easy, CURLOPT_ERRORBUFFER, state.errorBuffer))

        if failed != CURLE_OK {
            state.release()
            throw HTTPError(code: HTTPError.code(for: failed), endpoint: state.endpoint, curlCode: Int32(failed.rawValue),
                            message: "setting up the request: " + String(cString: curl_easy_strerror(failed)))
        }
    }
}

/// The pulled body of one response. `next()` returns the body in chunks and `nil` at its end;
/// a transport failure midway throws.
public final class HTTPResponseStream {
    /// Everything the libcurl callbacks touch for one transfer. Owned by the stream; the callbacks
    /// get it through an unretained pointer that is valid while the transfer is registered.
    final class State {
        let endpoint: String
        let highWater: Int
        var status = 0
        var headers: [HTTPResponseHead.HeaderField] = []
        var headComplete = false
        var buffer: [UInt8] = []
        var paused = false
        var finished = false
        var failure: HTTPError?
        var headerList: UnsafeMutablePointer<curl_slist>?
        let errorBuffer: UnsafeMutablePointer<CChar>
        /// The request body, and how much of it libcurl has read.
        var upload: [UInt8] = []
        var uploaded = 0

        init(endpoint: String, highWater: Int) {
            self.endpoint = endpoint
            self.highWater = highWater
            errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
            errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        }

        deinit { release(); errorBuffer.deallocate() }

        func release() {
            if let list = headerList { curl_slist_free_all(list) }
            headerList = nil
        }

        func finish(result: CURLcode, errorBuffer: UnsafeMutablePointer<CChar>) {
            finished = true
            guard result != CURLE_OK else { return }
            var message = String(cString: curl_easy_strerror(result))
            let detail = String(cString: errorBuffer)
            if !detail.isEmpty && detail != message { message += ": " + detail }
            failure = HTTPError(code: HTTPError.code(for: result), endpoint: endpoint,
                                curlCode: Int32(result.rawValue), message: message)
        }

        func throwIfFailed() throws(HTTPError) {
            if let failure { throw failure }
        }
    }

    private let client: HTTPClient
    private let state: State
    private var closed = false

    init(client: HTTPClient, state: State) {
        self.client = client
        self.state = state
    }

    deinit { close() }

    public var head: HTTPResponseHead { HTTPResponseHead(status: state.status, headers: state.headers) }

    /// The next chunk of the body, or `nil` once the body has ended.
    public func next() throws(HTTPError) -> [UInt8]? {
        if closed { return nil }
        if state.buffer.isEmpty {
            try client.pump(state) { !$0.buffer.isEmpty }
        }
        if !state.buffer.isEmpty {
            let chunk = state.buffer
            state.buffer = []
            state.buffer.reserveCapacity(min(chunk.count, state.highWater))
            if state.paused {
                state.paused = false
                client.resume()  // may call the write callback at once; buffer is empty by now
            }
            return chunk
        }
        try state.throwIfFailed()
        close()
        return nil
    }

    /// Ends the transfer (aborting it if the body has not been read to its end).
    public func close() {
        guard !closed else { return }
        closed = true
        client.end(state)
    }
}

// MARK: - libcurl callbacks

private let curlGlobalInit: Void = {
    curl_global_init(Int(CURL_GLOBAL_DEFAULT))
}()

private let curlReadCallback: otb_curl_data_callback = { buffer, size, count, context in
    let state = Unmanaged<HTTPResponseStream.State>.fromOpaque(context!).takeUnretainedValue()
    let length = min(size * count, state.upload.count - state.uploaded)
    if length > 0, let buffer {
        state.upload.withUnsafeBytes { body in
            UnsafeMutableRawPointer(buffer).copyMemory(from: body.baseAddress! + state.uploaded, byteCount: length)
        }
        state.uploaded += length
    }
    return length
}

private let curlSeekCallback: otb_curl_seek_callback = { context, offset, origin in
    let state = Unmanaged<HTTPResponseStream.State>.fromOpaque(context!).takeUnretainedValue()
    // libcurl rewinds with SEEK_SET; anything else, or a place outside the body, cannot be done.
    guard origin == SEEK_SET, offset >= 0, offset <= state.upload.count else { return otb_curl_seekfunc_cantseek() }
    state.uploaded = Int(offset)
    return otb_curl_seekfunc_ok()
}

private let curlWriteCallback: otb_curl_data_callback = { data, size, count, context in
    let state = Unmanaged<HTTPResponseStream.State>.fromOpaque(context!).takeUnretainedValue()
    let length = size * count
    if state.buffer.count >= state.highWater {
        state.paused = true
        return otb_curl_writefunc_pause()  // libcurl keeps these bytes and delivers them after resume
    }
    if length > 0, let data {
        state.buffer.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    }
    return length
}

private let curlHeaderCallback: otb_curl_data_callback = { data, size, count, context in
    let state = Unmanaged<HTTPResponseStream.State>.fromOpaque(context!).takeUnretainedValue()
    let length = size * count
    guard let data else { return length }
    var bytes = UnsafeRawBufferPointer(start: data, count: length)[...]
    // Trim CR and LF as bytes: in a Swift String "\r\n" is one Character.
    while let last = bytes.last, last == 0x0A || last == 0x0D { bytes = bytes.dropLast() }
    let line = String(decoding: bytes, as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        // A new status line starts a new response (after 1xx interim responses).
        let parts = line.split(separator: " ", maxSplits: 2)
        state.status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        state.headers = []
    } else if line.isEmpty {
        if state.status >= 200 { state.headComplete = true }
    } else if let colon = line.firstIndex(of: ":") {
        let name = String(line[..<colon])
        let value = line[line.index(after: colon)...].drop { $0 == " " || $0 == "\t" }
        state.headers.append(.init(name: name, value: String(value)))
    }
    return length
}

extension Duration {
    /// Whole milliseconds for a libcurl timeout option, within 1 ms … 24 days. Never 0, which
    /// libcurl reads as "no limit"; never an overflow, whatever the duration. 24 days is the
    /// longest limit: its milliseconds fit a 32-bit `long`, and no transfer of the bridge may
    /// legitimately take longer.
    var curlMilliseconds: Int {
        Int(wholeMilliseconds(roundingUp: false, clampedTo: 1...24 * 86_400 * 1000))
    }
}
