import DecryptFS
import Foundation
import Glibc
import Logging
import PlaneCrypto
import Sealing
import TestSupport

/// Seals a tree, mounts it in-process through libfuse on a background thread, runs the body, and always
/// unmounts with `fusermount3 -u` (lazily if a file is still open), even when the body throws.
enum MountHarness {
    static let datasetID = try! DatasetID(hex: "0x" + String(repeating: "cd", count: 32))

    static func key(_ byte: UInt8 = 9) -> SecretBytes { SecretBytes(copying: [UInt8](repeating: byte, count: 32)) }

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("delong-fs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes `files` (path → bytes) and `directories` under `dir/plain` and seals them to `dir/sealed`.
    static func seal(
        files: [String: [UInt8]],
        directories: [String] = [],
        in dir: URL,
        chunkSize: UInt32 = 4096,
        key: SecretBytes = key()
    ) throws -> Sealer.Result {
        let plain = dir.appendingPathComponent("plain")
        for d in directories {
            try FileManager.default.createDirectory(
                at: plain.appendingPathComponent(d),
                withIntermediateDirectories: true
            )
        }
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        for (path, bytes) in files {
            let url = plain.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try Data(bytes).write(to: url)
        }
        let sealer = try Sealer(options: .init(datasetID: datasetID, chunkSize: chunkSize, durable: false))
        return try sealer.seal(
            source: plain.path,
            output: dir.appendingPathComponent("sealed").path,
            keySource: InMemoryKeySource(key: key)
        )
    }

    /// Mounts `dir/sealed` on `dir/mnt`, runs `body(mountpoint)`, unmounts. With `jobUID`, `dir/mnt` is created
    /// as that uid's 0700 job mount directory and the mount serves only that uid (with allow_other).
    static func withMount<R>(
        _ dir: URL,
        key: SecretBytes = key(),
        cacheBytes: Int = 1 << 20,
        jobUID: UInt32? = nil,
        logs: LogCapture? = nil,
        _ body: (URL) throws -> R
    ) throws -> R {
        try withMountHandle(dir, key: key, cacheBytes: cacheBytes, jobUID: jobUID, logs: logs) { mnt, _ in
            try body(mnt)
        }
    }

    /// As `withMount`, handing the body the mount too. With `keySource`, the dataset's key source is made by it
    /// and only the mount holds the dataset (so a test can watch the key be released).
    static func withMountHandle<R>(
        _ dir: URL,
        key: SecretBytes = key(),
        keySource: (() -> any DatasetKeySource)? = nil,
        cacheBytes: Int = 1 << 20,
        jobUID: UInt32? = nil,
        hidden: Set<String> = [],
        logs: LogCapture? = nil,
        _ body: (URL, DecryptFSMount) throws -> R
    ) throws -> R {
        disableCoreDumps()
        let mnt = dir.appendingPathComponent("mnt")
        if let jobUID {
            try DecryptFSMount.createJobMountDirectory(mnt.path, uid: jobUID)
        } else {
            try FileManager.default.createDirectory(at: mnt, withIntermediateDirectories: true)
        }
        var logger = Logger(label: "delong.fs.test")
        logger.logLevel = .critical
        if let logs {
            logger = Logger(label: "delong.fs.test") { _ in CapturingLogHandler(capture: logs) }
            logger.logLevel = .debug
        }
        // No local holds the dataset: the mount is its only owner.
        let mount = DecryptFSMount(
            dataset: try SealedDataset(
                root: dir.appendingPathComponent("sealed").path,
                keySource: keySource?() ?? InMemoryKeySource(key: key)
            ),
            mountpoint: mnt.path,
            options: .init(cacheBytes: cacheBytes, allowedUID: jobUID, hidden: hidden),
            logger: logger
        )
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            do { try mount.run() } catch { FileHandle.standardError.write(Data("mount failed: \(error)\n".utf8)) }
            done.signal()
        }
        thread.start()
        defer {
            unmount(mnt)
            if done.wait(timeout: .now() + 20) == .timedOut {
                unmount(mnt, lazy: true)
                _ = done.wait(timeout: .now() + 10)
            }
        }
        try waitUntilMounted(mnt, parent: dir)
        return try body(mnt, mount)
    }

    /// A process that crashes while serving its own FUSE mount cannot finish writing a core dump: the dumping
    /// thread waits for a FUSE reply that no thread will ever send, and the test run hangs. Without a core
    /// file the crash ends the process at once, so a failing test fails instead of hanging.
    static func disableCoreDumps() {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &limit)
        limit.rlim_cur = 0
        setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &limit)
    }

    static func unmount(_ mnt: URL, lazy: Bool = false) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["fusermount3", "-u"] + (lazy ? ["-z"] : []) + [mnt.path]
        p.standardError = FileHandle.nullDevice
        try? p.run()
        p.waitUntilExit()
    }

    struct NotMounted: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) was not mounted within 10 s (is /dev/fuse usable?)" }
    }

    /// Waits for the mount in /proc/self/mountinfo (a mount restricted to a job uid refuses this process's stat).
    static func waitUntilMounted(_ mnt: URL, parent: URL) throws {
        for _ in 0..<1000 {
            if MountTable.isMounted(mnt.path) { return }
            usleep(10_000)
        }
        throw NotMounted(path: mnt.path)
    }

    /// pread through the mount; returns bytes or the errno.
    static func pread(_ url: URL, offset: UInt64, count: Int) -> Result<[UInt8], Errno> {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { return .failure(Errno(code: errno)) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes {
                Glibc.pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 { return .failure(Errno(code: errno)) }
            if n == 0 { break }
            done += n
        }
        return .success(Array(buffer.prefix(done)))
    }

    static func readAll(_ url: URL) -> Result<[UInt8], Errno> {
        var st = stat()
        guard stat(url.path, &st) == 0 else { return .failure(.ENOENT) }
        return pread(url, offset: 0, count: Int(st.st_size) + 1)
    }
}

/// An errno value as an Error, so reads through the mount can be compared as `Result`s.
struct Errno: Error, Equatable, CustomStringConvertible {
    let code: Int32
    static let EIO = Errno(code: Glibc.EIO)
    static let ENOENT = Errno(code: Glibc.ENOENT)
    var description: String { String(cString: strerror(code)) }
}

/// Collects log records so tests can check what the filesystem logged.
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] = []

    func append(_ level: Logger.Level, _ message: String, _ metadata: Logger.Metadata) {
        lock.lock()
        records.append((level, message, metadata))
        lock.unlock()
    }

    var all: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] {
        lock.lock()
        defer { lock.unlock() }
        return records
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    var metadataProvider: Logger.MetadataProvider? = nil

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        capture.append(event.level, "\(event.message)", metadata.merging(event.metadata ?? [:]) { $1 })
    }
}
