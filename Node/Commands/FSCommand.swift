import ArgumentParser
import DecryptFS
import Glibc
import Logging
import PlaneCrypto
import Sealing

/// `delong fs …`: the Decrypt FUSE.
struct FSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fs",
        abstract: "Mount a sealed dataset as a read-only decrypted filesystem.",
        subcommands: [FSMountCommand.self]
    )
}

/// `delong fs mount SEALED_DIR MOUNTPOINT --key-file FILE [--foreground] [--allow-uid UID]`
struct FSMountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount a sealed dataset read-only; files are decrypted and authenticated on read.",
        discussion: """
            SEALED_DIR may be any POSIX directory, including a JuiceFS, rclone or s3fs mount of object storage. \
            Unmount with `fusermount3 -u MOUNTPOINT` or SIGTERM; the key is wiped on unmount. A read that \
            touches a chunk failing authentication returns EIO and is logged once with file and chunk. \
            Without --foreground the command returns once the mount is ready and the filesystem keeps \
            running in a detached process.
            """
    )

    @Argument(help: "Sealed dataset directory.") var sealed: String
    @Argument(help: "Empty directory to mount on.") var mountpoint: String
    @Option(help: "Dataset key (DEK) file, mode 0600.") var keyFile: String
    @Option(help: "Expected manifest digest (the on-chain value), 0x + 64 hex digits.") var manifestDigest: String?
    @Option(help: "Expected dataset id, 0x + 64 hex digits.") var datasetId: String?
    @Option(help: "Memory bound of the decrypted-chunk cache, in MiB.") var cacheMib: Int = 64
    @Flag(help: "Let other users (for example a sandbox uid) read the mount.") var allowOther = false
    @Option(
        help:
            "Serve only this caller uid (a job's); every other caller, root included, gets EACCES. Implies --allow-other."
    )
    var allowUid: UInt32?
    @Flag(help: "Stay in the foreground until unmounted.") var foreground = false

    func validate() throws {
        guard cacheMib >= 0, cacheMib <= 1 << 20 else {
            throw ValidationError("--cache-mib must be 0...1048576, found \(cacheMib)")
        }
        if let allowUid, allowUid == UInt32.max {
            throw ValidationError("--allow-uid: expected a uid below 4294967295, found 4294967295 (the invalid uid -1)")
        }
    }

    func run() throws {
        if !foreground {
            try FSBackground.spawnAndWait(mountpoint: mountpoint)
            return
        }
        var logger = Logger(label: "delong.fs")
        logger.logLevel = .info
        let mount: DecryptFSMount
        do throws(SealingError) {
            // Load the key once: the key file may be removed after mounting, and reads never touch it.
            let keySource = try DatasetCLI.keySource(keyFile: keyFile)
            let digest = try manifestDigest.map { (hex: String) throws(SealingError) -> [UInt8] in
                guard let bytes = HexBytes.decode(hex), bytes.count == 32 else {
                    throw SealingError(
                        .malformed,
                        "--manifest-digest: expected 0x + 64 hex digits, found \"\(hex.prefix(80))\""
                    )
                }
                return bytes
            }
            let id = try datasetId.map { (hex: String) throws(SealingError) in try DatasetID(hex: hex) }
            let dataset = try SealedDataset(
                root: sealed,
                keySource: keySource,
                expectedManifestDigest: digest,
                expectedDatasetID: id
            )
            mount = DecryptFSMount(
                dataset: dataset,
                mountpoint: mountpoint,
                options: .init(
                    cacheBytes: cacheMib << 20,
                    allowOther: allowOther,
                    allowedUID: allowUid,
                    handleSignals: true
                ),
                logger: logger
            )
        } catch {
            DatasetCLI.note("error: \(error.reason)")
            throw ExitCode(DatasetCLI.exitCode(for: error))
        }
        do throws(DecryptFSError) {
            try mount.run()
        } catch {
            DatasetCLI.note("error: \(error.reason)")
            throw ExitCode(ExitCodes.systemError)
        }
    }
}

/// Background mode: re-run this executable with `--foreground` in a new session, and return once the
/// mountpoint is mounted (or report the child's failure). Forking a running Swift process is unsafe, so
/// this spawns a fresh one instead of daemonizing.
enum FSBackground {
    static func spawnAndWait(mountpoint: String) throws {
        var arguments = CommandLine.arguments
        arguments.append("--foreground")
        let executable = FSBackground.selfExecutable() ?? arguments[0]
        // Asked of /proc/self/mountinfo, not of the mount: a mount restricted to a job uid refuses root's stat.
        let originalDevice = MountTable.device(of: mountpoint)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc ≥ 2.26) is only declared under _GNU_SOURCE, which Swift's Glibc module omits.
        let posixSpawnSetsid: Int16 = 0x80
        posix_spawnattr_setflags(&attributes, posixSpawnSetsid)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // The detached mount process outlives this one: it must not keep the caller's other descriptors (a
        // parent waiting for a pipe or socket to close would wait as long as the mount lives).
        for fd in inheritedDescriptors() { posix_spawn_file_actions_addclose(&actions, fd) }
        let argv = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: arguments.count + 1)
        for (i, a) in arguments.enumerated() { argv[i] = strdup(a) }
        argv[arguments.count] = nil
        defer {
            for i in 0..<arguments.count { free(argv[i]) }
            argv.deallocate()
        }
        var pid: pid_t = 0
        guard posix_spawn(&pid, executable, &actions, &attributes, argv, environ) == 0 else {
            DatasetCLI.note("error: cannot start the mount process \(executable)")
            throw ExitCode(ExitCodes.systemError)
        }
        // Wait up to 30 s: mounted when the mountpoint's device differs from what it was.
        for _ in 0..<3000 {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                let code = (status >> 8) & 0xff
                DatasetCLI.note("error: the mount process exited with status \(code) before mounting")
                throw ExitCode(code == 0 ? ExitCodes.systemError : code)
            }
            if let now = MountTable.device(of: mountpoint), now != originalDevice {
                DatasetCLI.note("mounted at \(mountpoint) (pid \(pid)); unmount with: fusermount3 -u \(mountpoint)")
                return
            }
            usleep(10_000)
        }
        kill(pid, SIGTERM)
        DatasetCLI.note("error: \(mountpoint) was not mounted within 30 s")
        throw ExitCode(ExitCodes.systemError)
    }

    /// Open descriptors above 2 that an exec would pass on (no FD_CLOEXEC).
    private static func inheritedDescriptors() -> [Int32] {
        guard let dir = opendir("/proc/self/fd") else { return [] }
        defer { closedir(dir) }
        let own = dirfd(dir)
        var fds: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let fd = Int32(name), fd > 2, fd != own else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0, flags & FD_CLOEXEC == 0 { fds.append(fd) }
        }
        return fds
    }

    private static func selfExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
