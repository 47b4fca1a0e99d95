import Foundation
import Glibc

/// A minimal HTTP/1.1 client over a UNIX socket, for the plane's own small requests to Jupyter (`/api/status`,
/// `/api/kernels`): one request per connection, `Connection: close`, a deadline on every read and write.
/// The proxy that serves consumers is elsewhere; this only watches sessions.
enum UnixSocketHTTP {
    struct Response: Sendable {
        var status: Int
        var body: [UInt8]
    }

    /// GET `path` on the socket at `socketPath`, with `Authorization: token …` when `token` is given. Runs on a
    /// dispatch queue so a slow server never blocks the caller's executor.
    static func get(
        socketPath: String,
        path: String,
        token: String?,
        timeout: Double = 5
    ) async throws(ComputingPlaneError) -> Response {
        let result: Result<Response, ComputingPlaneError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do throws(ComputingPlaneError) {
                    continuation.resume(
                        returning: .success(
                            try getBlocking(socketPath: socketPath, path: path, token: token, timeout: timeout)
                        )
                    )
                } catch { continuation.resume(returning: .failure(error)) }
            }
        }
        return try result.get()
    }

    static func getBlocking(
        socketPath: String,
        path: String,
        token: String?,
        timeout: Double
    ) throws(ComputingPlaneError) -> Response {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ComputingPlaneError(.io, "socket: \(ComputingPlaneError.text(errno))") }
        defer { close(fd) }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw ComputingPlaneError(.badInput, "socket path \(socketPath): longer than a UNIX socket path can be")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            throw ComputingPlaneError(.io, "connect \(socketPath): \(ComputingPlaneError.text(errno))")
        }
        var request = "GET \(path) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        if let token { request += "Authorization: token \(token)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw ComputingPlaneError(.io, "send to \(socketPath): \(ComputingPlaneError.text(errno))")
            }
            sent += n
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while reply.count < 16 << 20 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                throw ComputingPlaneError(.io, "read from \(socketPath): \(ComputingPlaneError.text(errno))")
            }
            if n == 0 { break }
            reply += buffer[0..<n]
        }
        return try parse(reply, from: socketPath)
    }

    /// The status and body of a whole response (Content-Length or chunked, or up to the end of the stream).
    static func parse(_ reply: [UInt8], from socketPath: String) throws(ComputingPlaneError) -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = reply.indices.first(where: { reply[$0...].starts(with: separator) }) else {
            throw ComputingPlaneError(.io, "\(socketPath): expected an HTTP response, found \(reply.count) bytes")
        }
        let head = String(decoding: reply[..<end], as: UTF8.self).split(separator: "\r\n")
        let statusLine = head.first?.split(separator: " ") ?? []
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            throw ComputingPlaneError(.io, "\(socketPath): expected an HTTP status line, found \(head.first ?? "")")
        }
        var body = Array(reply[(end + 4)...])
        let chunked = head.dropFirst().contains {
            $0.lowercased().hasPrefix("transfer-encoding:") && $0.lowercased().contains("chunked")
        }
        if chunked {
            var out: [UInt8] = []
            var at = 0
            while let lineEnd = body[at...].firstIndex(of: 10),
                let size = Int(
                    String(decoding: body[at..<lineEnd], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                        .split(separator: ";").first ?? "",
                    radix: 16
                ),
                size > 0, lineEnd + 1 + size <= body.count
            {
                out += body[(lineEnd + 1)..<(lineEnd + 1 + size)]
                at = lineEnd + 1 + size + 2
                if at >= body.count { break }
            }
            body = out
        }
        return Response(status: status, body: body)
    }
}
