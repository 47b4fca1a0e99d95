import CFuse3
import Dispatch
import Glibc
public import Logging
public import Sealing

/// Errors of the Decrypt FUSE mount.
public struct DecryptFSError: Error, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Hashable, Sendable {
        /// libfuse rejected the options or could not set up.
        case setupFailed
        /// The mountpoint could not be mounted (missing, busy, no /dev/fuse, no permission).
        case mountFailed
        /// The event loop ended with an error.
        case loopFailed
        /// A job's mount directory could not be created as required (0700, owned by the job uid).
        case mountDirectoryFailed
    }

    /// What went wrong.
    public let code: Code
    /// Detail naming what was expected and found.
    public let reason: String

    init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
    public var description: String { reason }
}

/// One read-only mount of a sealed dataset: `fuse_new` → `fuse_mount` → multithreaded loop → unmount.
///
/// `run()` blocks the calling thread until the filesystem is unmounted (`fusermount3 -u`, ``unmount()``,
/// or SIGTERM/SIGINT/SIGHUP when `handleSignals` is set). When it returns, every reference to the dataset
/// (and so the DEK and every derived file key) has been dropped, and the key bytes are wiped as they are freed.
///
/// ``revoke()`` ends access without unmounting (a job's key lease was refused): from then on every operation
/// answers EIO, and the dataset, the open files' readers, the chunk cache and the kernel's cached pages and
/// attributes are dropped.
public final class DecryptFSMount: @unchecked Sendable {
    /// Mount options.
    public struct Options: Sendable {
        /// Bytes of decrypted chunks kept in memory for partial-chunk reads.
        public var cacheBytes: Int
        /// Let other users (for example the sandbox's uid) read the mount.
        public var allowOther: Bool
        /// The only caller uid served (the job's): every other caller, root included, gets EACCES from every
        /// operation. Implies `allow_other` when it is not the mounting uid.
        public var allowedUID: UInt32?
        /// Kernel readahead for the mount in KiB (the kernel's default is 128); larger reads mean fewer FUSE
        /// round trips. Set through sysfs, so it needs root; 0 leaves the kernel's value.
        public var readaheadKiB: Int
        /// Install libfuse's SIGTERM/SIGINT/SIGHUP handlers (unmount on signal); for the CLI, not tests.
        public var handleSignals: Bool
        /// Manifest paths the mount does not show (a job's mount hides the provider's gate policy, whose
        /// canaries are secrets): not listed, and ENOENT when named.
        public var hidden: Set<String>

        /// Options with a 64 MiB cache and 1 MiB readahead.
        public init(
            cacheBytes: Int = 64 << 20,
            allowOther: Bool = false,
            allowedUID: UInt32? = nil,
            readaheadKiB: Int = 1024,
            handleSignals: Bool = false,
            hidden: Set<String> = []
        ) {
            self.cacheBytes = cacheBytes
            self.allowOther = allowOther
            self.allowedUID = allowedUID
            self.readaheadKiB = readaheadKiB
            self.handleSignals = handleSignals
            self.hidden = hidden
        }
    }

    /// Where the dataset is mounted.
    public let mountpoint: String
    private let options: Options
    private let logger: Logger
    private let filesystem: DecryptingFS
    private let stateLock = NSLockLike()
    /// Serialises revocations, so a second call returns only once the first has finished.
    private let revokeLock = NSLockLike()
    private var fuse: OpaquePointer?
    private var hasRun = false
    private var isRevoked = false

    /// Prepares a mount of `dataset` at `mountpoint` (nothing is mounted until ``run()``).
    public init(dataset: SealedDataset, mountpoint: String, options: Options = Options(), logger: Logger) {
        let fs = DecryptingFS(
            dataset: dataset,
            cacheBytes: options.cacheBytes,
            allowedUID: options.allowedUID,
            hidden: options.hidden,
            logger: logger
        )
        fs.readaheadBytes = UInt32(clamping: max(0, min(options.readaheadKiB, 1 << 20)) << 10)
        self.filesystem = fs
        self.mountpoint = mountpoint
        self.options = options
        self.logger = logger
    }

    /// Mounts and serves until unmounted. Call once.
    public func run() throws(DecryptFSError) {
        let fs = filesystem
        let first = stateLock.withLock { () -> Bool in
            defer { hasRun = true }
            return !hasRun
        }
        guard first else { throw DecryptFSError(.setupFailed, "this mount has already run") }
        var mountOptions = "ro,default_permissions,fsname=delong,subtype=delong"
        let otherUID = options.allowedUID.map { $0 != geteuid() } ?? false
        if options.allowOther || otherUID { mountOptions += ",allow_other" }
        let arguments = ["delong", "-o", mountOptions]
        let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: arguments.count + 1)
        for (i, a) in arguments.enumerated() { argv[i] = strdup(a) }
        argv[arguments.count] = nil
        defer {
            for i in 0..<arguments.count { free(argv[i]) }
            argv.deallocate()
        }
        var args = fuse_args(argc: Int32(arguments.count), argv: argv, allocated: 0)
        var ops = FuseOperations.make()
        let context = Unmanaged.passRetained(fs)
        defer { context.release() }
        guard let fuse = CFuse3_new(&args, &ops, context.toOpaque()) else {
            throw DecryptFSError(.setupFailed, "libfuse rejected the mount options \(mountOptions)")
        }
        defer { fuse_destroy(fuse) }
        guard fuse_mount(fuse, mountpoint) == 0 else {
            throw DecryptFSError(
                .mountFailed,
                "cannot mount at \(mountpoint): expected an existing empty directory and a usable /dev/fuse (see the message above)"
            )
        }
        stateLock.withLock { self.fuse = fuse }
        if options.readaheadKiB > 0 { setReadahead(kib: options.readaheadKiB) }
        let watcher = options.handleSignals ? SignalWatcher(onSignal: { [weak self] in self?.unmount() }) : nil
        logger.info(
            "mounted sealed dataset",
            metadata: [
                "mount.point": "\(mountpoint)", "dataset.id": "\(fs.datasetIDText)",
                "manifest.digest": "\(fs.manifestDigestHex)",
            ]
        )
        let status = CFuse3_loop_mt(fuse, 0)
        watcher?.stop()
        stateLock.withLock { self.fuse = nil }
        fuse_unmount(fuse)
        fs.revokeAccess()
        logger.info("unmounted; dataset key released", metadata: ["mount.point": "\(mountpoint)"])
        // A signal-initiated exit returns the signal number; both mean a clean shutdown.
        guard status == 0 || status == SIGTERM || status == SIGINT || status == SIGHUP else {
            throw DecryptFSError(.loopFailed, "the FUSE loop ended with status \(status)")
        }
    }

    /// Raises the kernel readahead of this mount through `/sys/class/bdi/MAJOR:MINOR/read_ahead_kb`: FUSE starts
    /// at 128 KiB, which makes a sequential reader cost one round trip per 128 KiB. Done before the loop answers
    /// FUSE_INIT, whose `max_readahead` (set in `init`) the kernel then keeps. Best effort: without root or a
    /// writable sysfs the mount still works at the kernel's default.
    private func setReadahead(kib: Int) {
        guard let device = MountTable.device(of: mountpoint) else {
            logger.debug("readahead unchanged: mount not found in /proc/self/mountinfo")
            return
        }
        let path = "/sys/class/bdi/\(device)/read_ahead_kb"
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            logger.debug("readahead unchanged", metadata: ["path": "\(path)", "errno": "\(errno)"])
            return
        }
        defer { close(fd) }
        let text = Array("\(kib)\n".utf8)
        if write(fd, text, text.count) != text.count {
            logger.debug("readahead unchanged", metadata: ["path": "\(path)", "errno": "\(errno)"])
        }
    }

    /// Ends access to the dataset at once, without unmounting; for a job whose key lease was not renewed.
    ///
    /// Thread-safe and idempotent; call it from any thread but a FUSE callback while ``run()`` serves (or
    /// before or after). When it returns: every getattr, readdir, open, read, access and statfs answers EIO,
    /// including reads on descriptors opened before; reads already in flight have finished; the dataset (its
    /// key source and DEK), every open file's reader (file key, cipher contexts) and the plaintext chunk
    /// cache have been dropped and wiped; and the kernel's cached pages and attributes of every file and
    /// directory it had seen have been invalidated, so no read that starts after this returns gets plaintext
    /// (a process that had the file mapped loses the pages too). ``unmount()`` still works afterwards.
    public func revoke() {
        revokeLock.withLock {
            let first = stateLock.withLock { () -> Bool in
                defer { isRevoked = true }
                return !isRevoked
            }
            filesystem.revokeAccess()
            guard first else { return }
            // Pages and attributes the kernel cached while access lasted (kernel_cache, keep_cache and long
            // attribute timeouts) would otherwise keep answering reads and stats without asking us.
            var invalidated = 0
            stateLock.withLock {
                guard let fuse else { return }
                for path in filesystem.allPaths where fuse_invalidate_path(fuse, path) == 0 { invalidated += 1 }
            }
            logger.warning(
                "dataset access revoked; every read now fails",
                metadata: ["mount.point": "\(mountpoint)", "kernel.invalidated": "\(invalidated)"]
            )
        }
    }

    /// Whether ``revoke()`` has been called.
    public var revoked: Bool { stateLock.withLock { isRevoked } }

    /// Plaintext bytes held in the chunk cache (0 after ``revoke()`` and after unmount).
    public var cachedPlaintextBytes: Int { filesystem.cache.currentBytes }

    /// Whether the mount still holds the dataset or an open file's reader, and so key material (false after
    /// ``revoke()`` and after unmount).
    public var holdsKeyMaterial: Bool { filesystem.holdsKeyMaterial }

    /// Asks a running mount to stop (as `fusermount3 -u` would); `run()` then returns.
    public func unmount() {
        stateLock.withLock {
            if let fuse { fuse_exit(fuse) }
        }
        _ = spawnLazyUnmount(mountpoint)
    }
}

/// Turns SIGTERM, SIGINT and SIGHUP into an unmount.
///
/// libfuse's own handlers only set an exit flag, which a loop blocked in `read(/dev/fuse)` notices on the next
/// request, and a signal may land on any of the process's threads. So the handler writes one byte to a pipe
/// (async-signal-safe), and a watcher thread unmounts, which wakes every loop thread.
private final class SignalWatcher: @unchecked Sendable {
    private let readEnd: Int32
    private let writeEnd: Int32
    private let signals: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    init(onSignal: @escaping @Sendable () -> Void) {
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        readEnd = fds[0]
        writeEnd = fds[1]
        signalPipeWriteEnd = writeEnd
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in
            var byte = UInt8(truncatingIfNeeded: signal)
            _ = write(signalPipeWriteEnd, &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        for signal in signals { sigaction(signal, &action, nil) }
        let readEnd = readEnd
        DispatchQueue.global().async {
            var byte: UInt8 = 0
            // A byte means a signal arrived; end of file means stop() closed the pipe after a normal unmount.
            if read(readEnd, &byte, 1) == 1 { onSignal() }
            close(readEnd)
        }
    }

    func stop() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = SIG_DFL
        for signal in signals { sigaction(signal, &action, nil) }
        signalPipeWriteEnd = -1
        close(writeEnd)
    }
}

/// The pipe the signal handler writes to (a C signal handler cannot capture context).
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// Runs `fusermount3 -u -z MOUNTPOINT` so the blocked loop sees the device close.
private func spawnLazyUnmount(_ mountpoint: String) -> Int32 {
    var pid: pid_t = 0
    let arguments = ["fusermount3", "-u", "-z", mountpoint]
    let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: arguments.count + 1)
    for (i, a) in arguments.enumerated() { argv[i] = strdup(a) }
    argv[arguments.count] = nil
    defer {
        for i in 0..<arguments.count { free(argv[i]) }
        argv.deallocate()
    }
    guard posix_spawnp(&pid, "fusermount3", nil, nil, argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return status
}
