import Observability
import Bridge
import Foundation
import Logging
import Rollup
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The health endpoint Kubernetes probes while `serve` runs, on its own thread:
/// - `GET /livez`: 200 while the process runs (it has no other way to be stuck than a pass,
///   and a stuck pass is bounded by its timeouts);
/// - `GET /readyz`: 200 once a pass reached the checkpoint store and until shutdown begins,
///   503 with the reason otherwise.
/// One request per connection, answered and closed; anything else is 404 or 405. Plain HTTP/1.1
/// on a socket: libcurl is a client, and a web framework would cost more than these two answers.
final class HealthServer: Service, Sendable {
    let port: Int
    let health: HealthState
    let logger: Logger
    private let listener: Int32

    /// Binds the port now, so a port in use is an error at startup, not a silent missing probe.
    init(port: Int, health: HealthState, logger: Logger) throws(BridgeError) {
        self.port = port
        self.health = health
        self.logger = logger
        #if canImport(Glibc) || canImport(Musl)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw BridgeError(.configuration, "cannot open a socket for the health endpoint: \(String(cString: strerror(errno)))", key: "BRIDGE_HEALTH_PORT") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: INADDR_ANY)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw BridgeError(.configuration, "cannot listen on port \(port) for the health endpoint: \(reason) (set BRIDGE_HEALTH_PORT to a free port, or 0 for none)", key: "BRIDGE_HEALTH_PORT")
        }
        listener = fd
    }

    func run() async throws {
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
        // Answers until the scheduler has stopped (services shut down in reverse order).
        try? await gracefulShutdown()
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return  // the listener was closed
            }
            answer(client)
            close(client)
        }
    }

    private func answer(_ client: Int32) {
        // Short: one silent client must not hold up the kubelet's probes (answered one at a time).
        var timeout = timeval(tv_sec: 0, tv_usec: 300_000)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 2048)
        var length = 0
        // The request line is enough; read until its end (or the buffer is full).
        while length < buffer.count {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress! + length, $0.count - length, 0) }
            if n <= 0 { break }
            length += n
            if buffer[..<length].contains(UInt8(ascii: "\n")) { break }
        }
        let line = String(decoding: buffer[..<length].prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let (status, body) = Self.response(to: line, health: health)
        let reason = [200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"][status] ?? "Error"
        let text = "HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count + 1)\r\nConnection: close\r\n\r\n\(body)\n"
        _ = text.utf8CString.withUnsafeBytes { send(client, $0.baseAddress!, $0.count - 1, Int32(MSG_NOSIGNAL)) }
    }

    /// The status and body for a request line such as `GET /readyz HTTP/1.1`.
    static func response(to requestLine: String, health: HealthState) -> (Int, String) {
        let parts = requestLine.split(separator: " ")
        guard parts.count >= 2 else { return (405, "expected GET /livez or GET /readyz") }
        guard parts[0] == "GET" || parts[0] == "HEAD" else { return (405, "only GET") }
        let path = parts[1].split(separator: "?").first.map(String.init) ?? ""
        switch path {
        case "/livez", "/healthz": return (200, "ok")
        case "/readyz":
            let r = health.readiness
            return (r.ready ? 200 : 503, r.reason)
        default: return (404, "not found: try /livez or /readyz")
        }
    }
}
