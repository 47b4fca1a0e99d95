import ChainCore
public import Foundation
import PlaneCrypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The dstack guest agent's client: the one place that finds the agent and speaks its JSON API (dstack
/// sdk/curl/api.md). Inside a dstack CVM the agent answers on a Unix socket; `POST /<Method>` with a JSON object
/// body (bytes as hex strings) gets HTTP 200 and a JSON object, or 400/500 and `{"error": "..."}`.
///
/// Used for `GetKey` (the Privacy Plane's root secret, `--root-secret dstack[:SOCKET]`) and `GetQuote` (a TDX
/// quote and dstack's event log: `compute serve --evidence dstack[:SOCKET]` and the planes' own evidence).
///
/// HTTP/1.1 with `Connection: close`: one small request, a bounded response, no dependencies. The receive
/// buffers are wiped, since a `GetKey` answer carries key material.
public struct DstackGuestAgent: Sendable {
    /// Where the dstack SDKs look for the agent's socket, in this order (sdk/python dstack_client.py).
    public static let socketSearchOrder = [
        "/var/run/dstack.sock", "/run/dstack.sock", "/var/run/dstack/dstack.sock", "/run/dstack/dstack.sock",
    ]
    /// The SDKs' override, used by dstack's simulator: an `http://HOST:PORT` URL or a socket path.
    public static let endpointVariable = "DSTACK_SIMULATOR_ENDPOINT"
    /// GetQuote answers larger than this are refused (a quote is about 5 KB, dstack's event log tens of KB).
    public static let maxQuoteResponse = 1 << 20

    /// How the agent is reached.
    public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
        /// A Unix socket path.
        case unix(String)
        /// Plain HTTP over TCP (the simulator's `DSTACK_SIMULATOR_ENDPOINT=http://…`).
        case http(host: String, port: Int)

        public var description: String {
            switch self {
            case .unix(let path): path
            case .http(let host, let port): "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
            }
        }

        /// An endpoint as the SDKs take one: `http://HOST:PORT` (no path), else a socket path.
        public init(parsing text: String) throws(AttestationError) {
            guard text.hasPrefix("http://") || text.hasPrefix("https://") else {
                guard !text.isEmpty else {
                    throw AttestationError(
                        .evidenceUnavailable,
                        "dstack guest agent: expected a socket path, found \"\""
                    )
                }
                self = .unix(text)
                return
            }
            guard text.hasPrefix("http://") else {
                throw AttestationError(
                    .evidenceUnavailable,
                    "dstack guest agent endpoint: expected http://HOST:PORT or a socket path, found \(text) (https is not supported)"
                )
            }
            var rest = Substring(text.dropFirst(7))
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            let host: Substring
            let port: Substring
            if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
                host = rest[rest.index(after: rest.startIndex)..<close]
                port = rest[close...].dropFirst().hasPrefix(":") ? rest[close...].dropFirst(2) : ""
            } else if let colon = rest.lastIndex(of: ":") {
                host = rest[..<colon]
                port = rest[rest.index(after: colon)...]
            } else {
                host = rest
                port = "80"
            }
            guard !host.isEmpty, !host.contains("/"), let number = Int(port), (1...65535).contains(number) else {
                throw AttestationError(
                    .evidenceUnavailable,
                    "dstack guest agent endpoint: expected http://HOST:PORT or a socket path, found \(text)"
                )
            }
            self = .http(host: String(host), port: number)
        }
    }

    /// Where the agent is.
    public let endpoint: Endpoint
    /// Seconds to wait for the connection, the request and each read.
    public let timeoutSeconds: Int

    public init(endpoint: Endpoint, timeoutSeconds: Int = 10) {
        self.endpoint = endpoint
        self.timeoutSeconds = timeoutSeconds
    }

    /// The agent as `--root-secret dstack[:SOCKET]` and `--evidence dstack[:SOCKET]` name it: the explicit socket
    /// (or http URL) when given; else `DSTACK_SIMULATOR_ENDPOINT`; else the first socket of
    /// ``socketSearchOrder`` that exists, or the first one when none does (the SDKs' rule; the connect error
    /// then names it).
    public static func locate(
        _ explicit: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        exists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) },
        timeoutSeconds: Int = 10
    ) throws(AttestationError) -> DstackGuestAgent {
        if let explicit {
            return DstackGuestAgent(endpoint: try Endpoint(parsing: explicit), timeoutSeconds: timeoutSeconds)
        }
        if let variable = environment[endpointVariable], !variable.isEmpty {
            return DstackGuestAgent(endpoint: try Endpoint(parsing: variable), timeoutSeconds: timeoutSeconds)
        }
        let socket = socketSearchOrder.first(where: exists) ?? socketSearchOrder[0]
        return DstackGuestAgent(endpoint: .unix(socket), timeoutSeconds: timeoutSeconds)
    }

    /// The agent a command-line value names: `dstack` (located by ``locate(_:environment:exists:timeoutSeconds:)``)
    /// or `dstack:SOCKET` (or `dstack:http://HOST:PORT`); nil for any other value.
    public static func named(
        _ option: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(AttestationError) -> DstackGuestAgent? {
        if option == "dstack" { return try locate(nil, environment: environment) }
        guard option.hasPrefix("dstack:") else { return nil }
        return try locate(String(option.dropFirst(7)), environment: environment)
    }

    // MARK: GetQuote

    /// The exact body of a GetQuote request for `reportData` (at most 64 bytes, zero-padded to 64):
    /// `{"report_data":"<128 hex digits>"}`.
    public static func quoteRequest(reportData: [UInt8]) throws(AttestationError) -> [UInt8] {
        guard reportData.count <= 64 else {
            throw AttestationError(
                .reportDataMismatch,
                "dstack GetQuote report_data: expected at most 64 bytes, found \(reportData.count)"
            )
        }
        let padded = reportData + [UInt8](repeating: 0, count: 64 - reportData.count)
        return Array("{\"report_data\":\"\(Hex.encode(padded, prefix: false))\"}".utf8)
    }

    /// A TDX quote of this CVM whose REPORTDATA is `reportData` zero-padded to 64 bytes, with dstack's event log.
    ///
    /// Checked before it is returned: the answer's `report_data` is what was asked, its `quote` parses as a TDX
    /// quote, and the quote's REPORTDATA is what was asked (an agent that quoted something else is refused). The
    /// quote's signature is not checked here: that is the verifier's job, with collateral.
    public func quote(reportData: [UInt8]) throws(AttestationError) -> DstackQuote {
        let body = try Self.quoteRequest(reportData: reportData)
        let expected = reportData + [UInt8](repeating: 0, count: 64 - reportData.count)
        let payload = try call("GetQuote", body: body, maxResponse: Self.maxQuoteResponse)
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else {
            throw failure("GetQuote answered something other than a JSON object")
        }
        func hexField(_ name: String) throws(AttestationError) -> [UInt8] {
            guard let text = object[name] as? String else {
                throw failure("GetQuote answer: expected a hex string \"\(name)\", found none")
            }
            guard let bytes = Hex.decode(lenient: text) else {
                throw failure("GetQuote answer: expected \"\(name)\" in hex, found \(text.prefix(40).debugDescription)")
            }
            return bytes
        }
        let echoed = try hexField("report_data")
        guard echoed == expected else {
            throw AttestationError(
                .reportDataMismatch,
                "dstack GetQuote report_data: expected \(Hex.encode(expected, prefix: false)), found "
                    + Hex.encode(echoed, prefix: false)
            )
        }
        let quoteBytes = try hexField("quote")
        let parsed: TDXQuote
        do { parsed = try TDXQuote(bytes: quoteBytes) } catch {
            throw AttestationError(error.code, "dstack GetQuote quote: \(error.reason)")
        }
        guard parsed.body.reportData == expected else {
            throw AttestationError(
                .reportDataMismatch,
                "dstack GetQuote quote REPORTDATA: expected \(Hex.encode(expected, prefix: false)), found "
                    + Hex.encode(parsed.body.reportData, prefix: false)
            )
        }
        let eventLog: String
        switch object["event_log"] {
        case let text as String: eventLog = text
        case nil, is NSNull: eventLog = ""
        default: throw failure("GetQuote answer: expected \"event_log\" as a JSON string, found another type")
        }
        return DstackQuote(
            quote: quoteBytes,
            eventLog: eventLog,
            reportData: expected,
            vmConfig: object["vm_config"] as? String ?? ""
        )
    }

    // MARK: Transport

    /// POSTs `body` (a JSON object's bytes) to `/<method>`; the body of the HTTP 200 answer (the caller owns it
    /// and wipes it when it holds secrets). Any other status is an error carrying the agent's `{"error"}`.
    public func call(_ method: String, body: [UInt8], maxResponse: Int) throws(AttestationError) -> [UInt8] {
        let host =
            if case .http(let h, let p) = endpoint { "\(h.contains(":") ? "[\(h)]" : h):\(p)" } else { "localhost" }
        let head =
            "POST /\(method) HTTP/1.1\r\nHost: \(host)\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        var (status, payload) = try exchange(Array(head.utf8) + body, maxResponse: maxResponse)
        guard status == 200 else {
            defer { SecretBytes.wipe(&payload) }
            let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]
            let reason = (object?["error"] as? String).map { ": \($0)" } ?? ""
            throw failure("\(method) answered HTTP \(status)\(reason)")
        }
        return payload
    }

    func failure(_ what: String) -> AttestationError {
        AttestationError(.evidenceUnavailable, "dstack guest agent at \(endpoint): \(what)")
    }

    /// One request, the whole response: (status code, body with chunked transfer decoded).
    func exchange(_ request: [UInt8], maxResponse: Int) throws(AttestationError) -> (Int, [UInt8]) {
        let fd = try openConnection()
        defer { close(fd) }
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw failure("cannot send the request (\(String(cString: strerror(errno))))") }
            sent += n
        }
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
            guard n >= 0 else { throw failure("no answer within \(timeoutSeconds) s") }
            if n == 0 { break }
            response += buffer[0..<n]
            guard response.count <= maxResponse else { throw failure("response larger than \(maxResponse) bytes") }
        }
        return try Self.parse(response, maxBody: maxResponse, failure)
    }

    /// A connected stream socket to the endpoint, with send and receive timeouts set.
    func openConnection() throws(AttestationError) -> Int32 {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        func configured(_ fd: Int32) -> Int32 {
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            return fd
        }
        switch endpoint {
        case .unix(let socketPath):
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw failure("cannot create a socket") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let path = Array(socketPath.utf8)
            guard path.count < MemoryLayout.size(ofValue: address.sun_path) else {
                close(fd)
                throw failure("socket path longer than \(MemoryLayout.size(ofValue: address.sun_path) - 1) bytes")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path + [0]) }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(configured(fd), $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard connected == 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw failure("cannot connect (\(reason))")
            }
            return fd
        case .http(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            let resolved = getaddrinfo(host, String(port), &hints, &list)
            guard resolved == 0, let first = list else {
                throw failure("cannot resolve \(host) (\(String(cString: gai_strerror(resolved))))")
            }
            defer { freeaddrinfo(list) }
            var reason = "no address"
            var next: UnsafeMutablePointer<addrinfo>? = first
            while let info = next {
                next = info.pointee.ai_next
                let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
                guard fd >= 0 else { continue }
                if connect(configured(fd), info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
                reason = String(cString: strerror(errno))
                close(fd)
            }
            throw failure("cannot connect (\(reason))")
        }
    }

    /// Parses an HTTP/1.1 response: status line, headers, and a body by Content-Length, chunks or close.
    static func parse(
        _ response: [UInt8],
        maxBody: Int,
        _ fail: (String) -> AttestationError
    ) throws(AttestationError) -> (Int, [UInt8]) {
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
                    let size = Int(field, radix: 16), size >= 0, size <= maxBody,
                    rest.endIndex - crlf.upperBound >= size
                else { throw fail("malformed chunked body") }
                if size == 0 { break }
                decoded += rest[crlf.upperBound..<(crlf.upperBound + size)]
                rest = rest[(crlf.upperBound + size)...].dropFirst(2)
            }
            SecretBytes.wipe(&body)
            body = decoded
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard body.count >= length else { throw fail("body shorter than its Content-Length \(length)") }
            body.removeLast(body.count - length)
        }
        return (status, body)
    }
}

/// What the dstack guest agent's `GetQuote` answered, checked by ``DstackGuestAgent/quote(reportData:)``.
public struct DstackQuote: Sendable, Hashable {
    /// The TDX quote (its REPORTDATA is ``reportData``).
    public let quote: [UInt8]
    /// dstack's event log: a JSON array as text (``EventLog`` replays it, RTMR3 by dstack's runtime-event rule).
    public let eventLog: String
    /// The 64 bytes of REPORTDATA asked for (zero-padded).
    public let reportData: [UInt8]
    /// The CVM's configuration as the agent reports it (JSON text; not measured, informational).
    public let vmConfig: String
}
