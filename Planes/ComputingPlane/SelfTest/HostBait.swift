import Foundation
import Glibc

/// What the escape suite leaves on the host for a job to find: listeners on this machine's own addresses
/// (TCP and UDP on every IPv4 address, TCP on ::1, an abstract Unix socket) and a secret file in the host's
/// /tmp. Probes reach only this machine, never an outside address.
public final class HostBait: @unchecked Sendable {
    public let tcpPort: Int
    public let udpPort: Int
    public let tcp6Port: Int
    public let abstractName: String
    /// This machine's IPv4 addresses other than loopback (a job must not reach them either).
    public let hostAddresses: [String]
    public let secretPath: String
    private let sockets: [Int32]

    public init() throws(ComputingPlaneError) {
        var opened: [Int32] = []
        func listener(_ family: Int32, stream: Bool, abstract: String? = nil) throws(ComputingPlaneError) -> Int {
            let kind = stream ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue)
            let fd = socket(family, kind | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw ComputingPlaneError(.io, "bait socket: \(ComputingPlaneError.text(errno))") }
            opened.append(fd)
            var storage = sockaddr_storage()
            var length: socklen_t
            switch family {
            case AF_INET6:
                var a = sockaddr_in6()
                a.sin6_family = sa_family_t(AF_INET6)
                a.sin6_addr = in6addr_loopback
                length = socklen_t(MemoryLayout<sockaddr_in6>.size)
                withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: a, as: sockaddr_in6.self) }
            case AF_UNIX:
                var a = sockaddr_un()
                a.sun_family = sa_family_t(AF_UNIX)
                let bytes = [UInt8(0)] + Array((abstract ?? "").utf8)
                withUnsafeMutableBytes(of: &a.sun_path) { for (i, b) in bytes.enumerated() { $0[i] = b } }
                length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
                withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: a, as: sockaddr_un.self) }
            default:
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                a.sin_addr.s_addr = INADDR_ANY
                length = socklen_t(MemoryLayout<sockaddr_in>.size)
                withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: a, as: sockaddr_in.self) }
            }
            let bound = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
            }
            guard bound == 0, !stream || listen(fd, 16) == 0 else {
                throw ComputingPlaneError(.io, "bait socket bind: \(ComputingPlaneError.text(errno))")
            }
            if family == AF_UNIX { return 0 }
            var size = socklen_t(MemoryLayout<sockaddr_storage>.size)
            _ = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) }
            }
            let raw = withUnsafeBytes(of: storage) { Array($0[2..<4]) }
            return Int(raw[0]) << 8 | Int(raw[1])
        }
        do {
            tcpPort = try listener(AF_INET, stream: true)
            udpPort = try listener(AF_INET, stream: false)
            tcp6Port = try listener(AF_INET6, stream: true)
            abstractName = "delong-selftest-\(UUID().uuidString)"
            _ = try listener(AF_UNIX, stream: true, abstract: abstractName)
        } catch {
            opened.forEach { _ = Glibc.close($0) }
            throw error
        }
        sockets = opened
        hostAddresses = Self.ipv4Addresses()
        secretPath = "/tmp/delong-host-secret-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: secretPath, contents: Data("secret".utf8))
    }

    deinit {
        sockets.forEach { _ = Glibc.close($0) }
        unlink(secretPath)
    }

    /// Connections accepted and datagrams received since the last call.
    public func contacts() -> Int {
        var n = 0
        var buffer = [UInt8](repeating: 0, count: 64)
        for fd in sockets {
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { break }
                _ = Glibc.close(c)
                n += 1
            }
            while recv(fd, &buffer, buffer.count, 0) >= 0 { n += 1 }
        }
        return n
    }

    private static func ipv4Addresses() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>? = nil
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var found: [String] = []
        var cursor = list
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else {
                continue
            }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var a = sin.pointee.sin_addr
                _ = inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
            }
            let ip = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !ip.hasPrefix("127.") { found.append(ip) }
        }
        return found
    }
}
