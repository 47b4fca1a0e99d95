import Foundation
import Glibc

/// The host uids jobs run as: a reserved range far from system, user and container ranges, one uid per
/// running job. A uid is leased with an exclusive `flock` on a file of its own, and only when no account has
/// it and no process runs as it, so two runners never share one.
public struct JobUIDRange: Sendable, Hashable {
    public var first: UInt32
    public var count: UInt32
    /// Where the lease files live.
    public var lockDirectory: String

    public init(first: UInt32, count: UInt32, lockDirectory: String) {
        self.first = first
        self.count = count
        self.lockDirectory = lockDirectory
    }

    /// 2,100,000,000 and the 1,000 uids after it: above the 65,536 ids of user namespaces' usual subuid maps
    /// from 100000, and never 0, 65534 (nobody) or a daemon's.
    public static let standard = JobUIDRange(first: 2_100_000_000, count: 1000, lockDirectory: "/run/delong/job-uids")

    /// A leased uid, held until `release()`.
    public final class Lease: Sendable {
        public let uid: UInt32
        let fd: Int32
        init(uid: UInt32, fd: Int32) {
            self.uid = uid
            self.fd = fd
        }
        public func release() { close(fd) }
    }

    /// Leases a free uid of the range.
    public func lease() throws(ComputingPlaneError) -> Lease {
        do {
            try FileManager.default.createDirectory(atPath: lockDirectory, withIntermediateDirectories: true)
        } catch {
            throw ComputingPlaneError(.io, "cannot create \(lockDirectory): \(error.localizedDescription)")
        }
        let running = Self.uidsOfRunningProcesses()
        let start = UInt32.random(in: 0..<count)
        for i in 0..<count {
            let uid = first + (start + i) % count
            guard uid != 0, uid != 65534, getpwuid(uid) == nil, !running.contains(uid) else { continue }
            let fd = open("\(lockDirectory)/\(uid)", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw ComputingPlaneError(
                    .io,
                    "cannot open the lease of uid \(uid): \(ComputingPlaneError.text(errno))"
                )
            }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return Lease(uid: uid, fd: fd) }
            close(fd)
        }
        throw ComputingPlaneError(.sandboxFailure, "all \(count) job uids from \(first) are in use")
    }

    /// The real uids of every process on the host (from /proc/*/status).
    static func uidsOfRunningProcesses() -> Set<UInt32> {
        var out: Set<UInt32> = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int(entry) != nil {
            guard let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8) else { continue }
            for line in status.split(separator: "\n") where line.hasPrefix("Uid:") {
                for field in line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst() {
                    if let uid = UInt32(field) { out.insert(uid) }
                }
            }
        }
        return out
    }
}
