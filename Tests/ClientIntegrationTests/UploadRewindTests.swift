import CurlHTTP
import Foundation
import Synchronization
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A request body is read by libcurl from the request as it sends it: when a reused connection
/// turns out to have died after the request went out, libcurl sends it again on a new connection,
/// from the start of the body (the seek callback), instead of failing the request.
@Suite("HTTPClient: a request body sent again on a fresh connection")
struct UploadRewindTests {
    @Test("a POST sent on a kept-alive connection that the server closes without answering is sent again, whole, on a new one")
    func resentAfterDeadConnection() async throws {
        let server = try OneShotServer()
        // Larger than libcurl's upload buffer: read in several pieces, then from the start again.
        let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let result = await onThread {
            let client = HTTPClient()
            let first = try client.perform(HTTPRequest(method: .post, url: server.url, headers: [], body: Array("first".utf8), timeout: .seconds(20)))
            let second = try client.perform(HTTPRequest(method: .post, url: server.url, headers: [], body: body, timeout: .seconds(20)))
            return (first.head.status, second.head.status)
        }
        let (first, second) = try result.get()
        #expect(first == 200 && second == 200)
        let received = server.bodies()
        #expect(received.count == 3, "the first request, the second on the dead connection, the second again")
        #expect(received.first == Array("first".utf8))
        #expect(received.dropFirst().allSatisfy { $0 == body })
        #expect(server.connections() == 2)
    }
}

/// A server for one scenario on 127.0.0.1: on its first connection it answers the first request
/// (keeping the connection), reads the second and closes without answering; on its second
/// connection it answers every request. It records each request's body.
private final class OneShotServer: Sendable {
    let url: String
    private let listener: Int32
    private let state = Mutex<(bodies: [[UInt8]], connections: Int)>(([], 0))

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let port: UInt16? = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(fd, raw, length) == 0, listen(fd, 4) == 0, getsockname(fd, raw, &length) == 0 else { return nil }
                return UInt16(bigEndian: pointer.pointee.sin_port)
            }
        }
        guard let port else { close(fd); throw TestFailure("bind/listen failed") }
        listener = fd
        url = "http://127.0.0.1:\(port)/v1/metrics"
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    deinit { close(listener) }

    func bodies() -> [[UInt8]] { state.withLock { $0.bodies } }
    func connections() -> Int { state.withLock { $0.connections } }

    private func serve() {
        for connection in 0..<2 {
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { return }
            state.withLock { $0.connections += 1 }
            var pending: [UInt8] = []
            var answered = 0
            while let body = Self.readRequest(fd, &pending) {
                state.withLock { $0.bodies.append(body) }
                if connection == 0 && answered == 1 { break }  // the second request: close unanswered
                let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)
                _ = response.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                answered += 1
            }
            close(fd)
        }
    }

    /// One request's body (by its Content-Length), or `nil` once the peer closed.
    private static func readRequest(_ fd: Int32, _ pending: inout [UInt8]) -> [UInt8]? {
        let separator = Array("\r\n\r\n".utf8)
        func fill() -> Bool {
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return false }
            pending += chunk[..<n]
            return true
        }
        var headEnd: Int?
        while headEnd == nil {
            if let r = pending.firstRange(of: separator) { headEnd = r.upperBound } else if !fill() { return nil }
        }
        let head = String(decoding: pending[..<headEnd!], as: UTF8.self).lowercased()
        let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        while pending.count < headEnd! + length { if !fill() { return nil } }
        let body = Array(pending[headEnd!..<(headEnd! + length)])
        pending.removeFirst(headEnd! + length)
        return body
    }
}
