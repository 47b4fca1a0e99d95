import ChainCore
import Foundation
public import PlaneCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The dstack guest agent's client, and the root secret from it — the production provider: inside a dstack CVM the agent
/// answers `POST /GetKey {"path", "purpose"}` on its Unix socket with `{"key": hex, "signature_chain": [hex…]}`,
/// a key the dstack KMS derives for this application's measured identity only. The same app on another
/// machine gets the same key; a modified app gets another.
///
/// HTTP/1.1 over the Unix socket with `Connection: close`, written here against the agent's published API
/// (sdk/curl/api.md in the dstack repository): one small request, a bounded response, no dependencies.
public struct DstackRootSecret: RootSecretProvider {
    public static let defaultSocket = "/var/run/dstack.sock"
    /// The key path and purpose DeLong asks for; changing either changes every dataset key.
    public static let keyPath = "delong/privacy-plane/root"
    public static let purpose = "delong-dek-root-v1"
    /// GetKey responses larger than this are refused (a key and its signature chain are a few hundred bytes).
    static let maxResponse = 64 * 1024

    public let socketPath: String
    public let timeoutSeconds: Int

    public init(socketPath: String = defaultSocket, timeoutSeconds: Int = 10) {
        self.socketPath = socketPath
        self.timeoutSeconds = timeoutSeconds
    }

    /// The key's hex is read straight from the response bytes (never into a Foundation string that cannot be
    /// wiped), and the response, its hex and the decoded key are wiped once the key is in ``SecretBytes``.
    public func rootSecret() throws -> SecretBytes {
        var payload = try callRaw(
            "GetKey",
            ["path": Self.keyPath, "purpose": Self.purpose],
            maxResponse: Self.maxResponse
        )
        defer { SecretBytes.wipe(&payload) }
        guard var key = Self.hexStringField("key", in: payload) else {
            throw unavailable("GetKey response: \"key\" is missing or not hex")
        }
        defer { SecretBytes.wipe(&key) }
        guard key.count == 32 else { throw unavailable("GetKey key: expected 32 bytes, found \(key.count)") }
        return SecretBytes(copying: key)
    }

    /// The bytes a JSON object's top-level `"name": "hex"` member decodes to (optional `0x`), read from the raw
    /// JSON bytes; nil when the member is missing or is not a plain hex string. Intermediate copies are wiped.
    package static func hexStringField(_ name: String, in json: [UInt8]) -> [UInt8]? {
        let needle = Array("\"\(name)\"".utf8)
        guard let found = json.firstRange(of: needle) else { return nil }
        var i = found.upperBound
        func skipSpace() { while i < json.count, [9, 10, 13, 32].contains(json[i]) { i += 1 } }
        skipSpace()
        guard i < json.count, json[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        skipSpace()
        guard i < json.count, json[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        if i + 1 < json.count, json[i] == UInt8(ascii: "0"), json[i + 1] | 0x20 == UInt8(ascii: "x") { i += 2 }
        let start = i
        while i < json.count, SecretBytes.hexValue(json[i]) != nil { i += 1 }
        guard i < json.count, json[i] == UInt8(ascii: "\""), i - start <= 128,
            let decoded = SecretBytes.decodingHex(json[start..<i])
        else { return nil }
        return decoded.withUnsafeBytes { Array($0) }
    }

    /// A TDX quote of this CVM with `reportData` (at most 64 bytes) from the agent's `GetQuote`, and the event
    /// log it returns (JSON text), for the plane's own attestation.
    public func quote(reportData: [UInt8]) throws -> (quote: [UInt8], eventLog: String) {
        guard reportData.count <= 64 else { throw unavailable("report data longer than 64 bytes") }
        let object = try call("GetQuote", ["report_data": Hex.encode(reportData, prefix: false)], maxResponse: 1 << 20)
        guard let hex = object["quote"] as? String, let quote = try? Hex.decode(hex) else {
            throw unavailable("GetQuote response has no hex \"quote\"")
        }
        return (quote, object["event_log"] as? String ?? "")
    }

    /// POSTs `body` as JSON to the agent's `/ENDPOINT`; the JSON object it answers with HTTP 200.
    private func call(_ endpoint: String, _ body: [String: String], maxResponse: Int) throws -> [String: Any] {
        let payload = try callRaw(endpoint, body, maxResponse: maxResponse)
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else {
            throw unavailable("\(endpoint) answered something other than a JSON object")
        }
        return object
    }

    /// POSTs `body` as JSON to the agent's `/ENDPOINT`; the body it answers with HTTP 200 (the caller owns it).
    private func callRaw(_ endpoint: String, _ body: [String: String], maxResponse: Int) throws -> [UInt8] {
        let data = try JSONSerialization.data(withJSONObject: body)
        let (status, payload) = try exchange(
            "POST /\(endpoint) HTTP/1.1\r\nHost: dstack\r\nContent-Type: application/json\r\nContent-Length: \(data.count)\r\nConnection: close\r\n\r\n",
            body: Array(data),
            maxResponse: maxResponse
        )
        guard status == 200 else {
            let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]
            let reason = (object?["error"] as? String).map { ": \($0)" } ?? ""
            throw unavailable("\(endpoint) answered HTTP \(status)\(reason)")
        }
        return payload
    }

    private func unavailable(_ what: String) -> PrivacyPlaneError {
        PrivacyPlaneError(.keyUnavailable, "dstack guest agent at \(socketPath): \(what)")
    }

    /// One request, the whole response: (status code, body with chunked transfer decoded).
    private func exchange(
        _ head: String,
        body: [UInt8],
        maxResponse: Int
    ) throws(PrivacyPlaneError) -> (Int, [UInt8]) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw unavailable("cannot create a socket") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw unavailable("socket path longer than \(MemoryLayout.size(ofValue: address.sun_path) - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path + [0]) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { throw unavailable("cannot connect (\(String(cString: strerror(errno))))") }
        do { try LogFile.writeAll(Array(head.utf8) + body, fd: fd, path: socketPath) } catch {
            throw unavailable("cannot send the request")
        }
        // The response carries the root key's hex: wipe the receive buffers once it is parsed.
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        defer {
            SecretBytes.wipe(&buffer)
            SecretBytes.wipe(&response)
        }
        response.reserveCapacity(maxResponse + buffer.count)  // no reallocation leaves an unwiped copy behind
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw unavailable("no answer within \(timeoutSeconds) s") }
            if n == 0 { break }
            response += buffer[0..<n]
            guard response.count <= maxResponse else {
                throw unavailable("response larger than \(maxResponse) bytes")
            }
        }
        return try Self.parse(response, unavailable)
    }

    /// Parses an HTTP/1.1 response: status line, headers, and a body by Content-Length, chunks or close.
    static func parse(
        _ response: [UInt8],
        _ fail: (String) -> PrivacyPlaneError
    ) throws(PrivacyPlaneError) -> (Int, [UInt8]) {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = response.firstRange(of: separator) else { throw fail("truncated HTTP response") }
        let head = String(decoding: response[..<end.lowerBound], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw fail("expected an HTTP/1.x status line, found \(lines[0].prefix(40))")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces
            )
        }
        var body = Array(response[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            var decoded: [UInt8] = []
            var rest = body[...]
            while true {
                guard let crlf = rest.firstRange(of: [13, 10]),
                    let field = String(decoding: rest[..<crlf.lowerBound], as: UTF8.self).split(separator: ";").first,
                    let size = Int(field, radix: 16), size >= 0, size <= maxResponse,
                    rest.endIndex - crlf.upperBound >= size
                else { throw fail("malformed chunked body") }
                if size == 0 { break }
                decoded += rest[crlf.upperBound..<(crlf.upperBound + size)]
                rest = rest[(crlf.upperBound + size)...].dropFirst(2)
            }
            body = decoded
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard body.count >= length else { throw fail("body shorter than its Content-Length \(length)") }
            body = Array(body.prefix(length))
        }
        return (status, body)
    }
}
