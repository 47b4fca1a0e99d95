import CFuse3
import Glibc
public import Logging
public import Sealing
import Synchronization

/// The Decrypt FUSE's filesystem: a read-only view of a sealed dataset in which consumer code sees plain files.
///
/// Directory listings and `stat` come from the authenticated manifest; file contents are decrypted chunk by
/// chunk on `read`. A chunk that fails authentication makes that read fail with EIO (never wrong bytes) and is
/// logged once, naming the file and chunk. Called from libfuse's worker threads: everything here is immutable
/// or behind a lock.
///
/// With an allowed uid (``DecryptFSMount/Options/allowedUID``), every operation that reveals anything
/// (getattr, which is also lookup; opendir and readdir; open; read; access; statfs) first checks the caller's uid
/// from `fuse_get_context` and refuses any other caller, root included, with EACCES, so `allow_other` exposes
/// nothing to other host users. Files and directories are then reported as owned by that uid, mode 0400 and
/// 0500, so the kernel also refuses other non-root users from its own caches.
///
/// Paths are looked up by their bytes, never by Swift `String` equality (which is Unicode canonical
/// equivalence): "café" in NFC and in NFD are two names, each with its own file, as on Linux.
///
/// Access can be revoked (``revokeAccess()``): every operation enters through an ``AccessGate``; once it is
/// closed, every operation answers EIO, and after the operations in flight have finished the dataset (and so
/// its key source and DEK), every open file's reader (its file key and cipher contexts) and the chunk cache
/// are dropped and wiped.
public final class DecryptingFS: @unchecked Sendable {
    /// A node of the tree: directory or file, with its manifest entry.
    struct Node {
        let entry: Manifest.Entry?  // nil for the root
        let index: Int
        var isDirectory: Bool { entry?.kind != .file }
        var size: UInt64 { entry?.size ?? 0 }
    }

    /// The dataset while access lasts (nil once revoked or unmounted). Read only inside the gate.
    private var datasetHandle: SealedDataset?
    private let datasetLock = NSLockLike()
    /// For logs: the dataset id and manifest digest (not secret, kept after revocation).
    let datasetIDText: String
    let manifestDigestHex: String
    let cache: ChunkCache
    /// Every operation passes it; closed by revocation.
    let gate = AccessGate()
    /// Open files by identity, so revocation can drop their readers (release removes them).
    private var openFiles: [ObjectIdentifier: OpenFile] = [:]
    private let openFilesLock = NSLockLike()
    let logger: Logger
    /// Nodes by absolute path bytes ("/" ‖ manifest path).
    private let nodes: [[UInt8]: Node]
    /// Child names (bytes) by directory path bytes.
    private let children: [[UInt8]: [[UInt8]]]
    private let subdirectoryCounts: [[UInt8]: Int]
    private let owner: (uid: uid_t, gid: gid_t)
    /// The one caller uid served, or nil to serve every caller the kernel lets through.
    let allowedUID: uid_t?
    /// The readahead the mount asks the kernel for, in bytes (0: the kernel's default).
    var readaheadBytes: UInt32 = 0
    private let mountTime: timespec
    private let failuresLock = NSLockLike()
    private var loggedFailures: Set<[UInt8]> = []

    private static let slash = UInt8(ascii: "/")

    /// The parent directory of an absolute path ("/" for a top-level name) and the last component.
    private static func split(_ path: [UInt8]) -> (parent: [UInt8], name: [UInt8]) {
        let last = path.lastIndex(of: slash)!
        return (last == 0 ? [slash] : Array(path[..<last]), Array(path[(last + 1)...]))
    }

    /// A filesystem over `dataset` with a chunk cache bounded by `cacheBytes`; with `allowedUID`, only that uid
    /// (and its group of the same number, as job uids have) is served.
    public init(
        dataset: SealedDataset,
        cacheBytes: Int,
        allowedUID: UInt32? = nil,
        hidden: Set<String> = [],
        logger: Logger
    ) {
        self.datasetHandle = dataset
        self.datasetIDText = "\(dataset.datasetID)"
        self.manifestDigestHex = dataset.manifestDigestHex
        self.cache = ChunkCache(capacityBytes: cacheBytes)
        self.logger = logger
        var nodes: [[UInt8]: Node] = [[Self.slash]: Node(entry: nil, index: -1)]
        var children: [[UInt8]: [[UInt8]]] = [[Self.slash]: []]
        for (index, entry) in dataset.manifest.entries.enumerated()
        where !hidden.contains(where: { entry.path == $0 || entry.path.hasPrefix($0 + "/") }) {
            let path = [Self.slash] + Array(entry.path.utf8)
            nodes[path] = Node(entry: entry, index: index)
            let (parent, name) = Self.split(path)
            children[parent, default: []].append(name)
            if entry.kind == .directory { children[path] = children[path] ?? [] }
        }
        var subdirectoryCounts: [[UInt8]: Int] = [:]
        for (path, node) in nodes where node.isDirectory && path != [Self.slash] {
            subdirectoryCounts[Self.split(path).parent, default: 0] += 1
        }
        self.nodes = nodes
        self.children = children
        self.subdirectoryCounts = subdirectoryCounts
        self.allowedUID = allowedUID.map { uid_t($0) }
        self.owner = allowedUID.map { (uid_t($0), gid_t($0)) } ?? (getuid(), getgid())
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        self.mountTime = now
    }

    /// The bytes of a C path exactly as the kernel passed them (no UTF-8 repair, no normalisation).
    static func bytes(_ path: UnsafePointer<CChar>) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: path, count: strlen(path)))
    }

    func node(_ path: UnsafePointer<CChar>?) -> Node? {
        guard let path else { return nil }
        return nodes[Self.bytes(path)]
    }

    func fill(_ st: UnsafeMutablePointer<stat>, _ node: Node) {
        memset(st, 0, MemoryLayout<stat>.size)
        if node.isDirectory {
            st.pointee.st_mode = S_IFDIR | (allowedUID == nil ? 0o555 : 0o500)
            // 2 + subdirectories, as on disk: tree walkers (fts) use the link count to skip leaf directories.
            let path = [Self.slash] + Array((node.entry?.path ?? "").utf8)
            st.pointee.st_nlink = nlink_t(2 + (subdirectoryCounts[path] ?? 0))
        } else {
            st.pointee.st_mode = S_IFREG | (allowedUID == nil ? 0o444 : 0o400)
            st.pointee.st_nlink = 1
            st.pointee.st_size = off_t(node.size)
            st.pointee.st_blocks = blkcnt_t((node.size + 511) / 512)
        }
        st.pointee.st_blksize = 4096
        st.pointee.st_uid = owner.uid
        st.pointee.st_gid = owner.gid
        st.pointee.st_atim = mountTime
        st.pointee.st_mtim = mountTime
        st.pointee.st_ctim = mountTime
    }

    /// Whether the caller of the current FUSE request may see anything: always without an allowed uid, else only
    /// when the request comes from exactly that uid (root is not the job).
    @inline(__always)
    func callerAllowed() -> Bool {
        guard let allowedUID else { return true }
        guard let context = fuse_get_context() else { return false }
        return context.pointee.uid == allowedUID
    }

    /// Names in a directory with their file type bits (so readdir can report d_type).
    /// Names are NUL-terminated bytes, ready for the FUSE filler.
    func children(of path: UnsafePointer<CChar>?) -> [(name: [CChar], mode: mode_t)]? {
        guard let path else { return nil }
        let directory = Self.bytes(path)
        guard let names = children[directory] else { return nil }
        let prefix = directory == [Self.slash] ? directory : directory + [Self.slash]
        return names.map { name in
            (
                name.map { CChar(bitPattern: $0) } + [0],
                nodes[prefix + name]?.isDirectory == true ? S_IFDIR : S_IFREG
            )
        }
    }

    /// Opens a file's sealed object; nil (EIO) if its header does not match the manifest or access was
    /// revoked. Call inside the gate.
    func openReader(_ node: Node) -> SealedFileReader? {
        guard let entry = node.entry, let dataset = datasetLock.withLock({ datasetHandle }) else { return nil }
        do throws(SealingError) {
            return try dataset.openFile(entry)
        } catch {
            reportOnce(key: entry.path + "#open", error, path: entry.path, chunk: nil)
            return nil
        }
    }

    /// Keeps `file` until ``forget(_:)`` (release), so revocation can reach its reader.
    func remember(_ file: OpenFile) {
        openFilesLock.withLock { openFiles[ObjectIdentifier(file)] = file }
    }

    func forget(_ file: OpenFile) {
        openFilesLock.withLock { _ = openFiles.removeValue(forKey: ObjectIdentifier(file)) }
    }

    /// Ends access: closes the gate (every later operation answers EIO), waits for the operations in flight,
    /// then drops the dataset and every open file's reader, and wipes the chunk cache, so the DEK and file
    /// keys are freed (and wiped by `SecretBytes`) unless someone outside holds them. Idempotent. Must not be
    /// called from a FUSE callback (it would wait for itself).
    func revokeAccess() {
        gate.close()
        let files = openFilesLock.withLock { Array(openFiles.values) }
        for file in files { file.dropReader() }
        let dataset = datasetLock.withLock { () -> SealedDataset? in
            defer { datasetHandle = nil }
            return datasetHandle
        }
        _ = dataset  // released here, outside the lock
        cache.removeAll()
    }

    /// Whether any key material is still reachable from the filesystem: the dataset (its key source) or an
    /// open file's reader.
    var holdsKeyMaterial: Bool {
        if datasetLock.withLock({ datasetHandle != nil }) { return true }
        return openFilesLock.withLock { openFiles.values.contains { $0.hasReader } }
    }

    /// Every node's absolute path as a NUL-terminated C string (for kernel cache invalidation).
    var allPaths: [[CChar]] {
        nodes.keys.map { $0.map { CChar(bitPattern: $0) } + [0] }
    }

    /// Logs an integrity failure the first time it is seen for this file and chunk.
    func reportOnce(key: String, _ error: SealingError, path: String, chunk: UInt64?) {
        let first = failuresLock.withLock { loggedFailures.insert(Array(key.utf8)).inserted }
        guard first else { return }
        var metadata: Logger.Metadata = ["file.path": "\(path)", "error.code": "\(error.code.rawValue)"]
        if let chunk { metadata["chunk.index"] = "\(chunk)" }
        logger.error("sealed data failed verification; returning EIO", metadata: metadata)
        logger.debug("verification failure detail", metadata: ["error.reason": "\(error.reason)"])
    }
}

/// The door every FUSE operation passes: a count of operations inside and a closed flag in one atomic word.
///
/// `enter()` is one atomic add on the hot path (no lock). `close()` sets the flag, then waits until no
/// operation that entered before it is still inside; an operation that enters after sees the flag, leaves at
/// once and fails. So when `close()` returns, nothing that started before it is still running and nothing
/// that starts after it gets through.
final class AccessGate: Sendable {
    private static let closedBit = 1 << 62
    private let state = Atomic<Int>(0)

    /// True when the caller may proceed (it must then call `leave()`); false once closed.
    @inline(__always)
    func enter() -> Bool {
        let value = state.wrappingAdd(1, ordering: .acquiring).newValue
        guard value & Self.closedBit == 0 else {
            state.wrappingSubtract(1, ordering: .releasing)
            return false
        }
        return true
    }

    @inline(__always)
    func leave() { state.wrappingSubtract(1, ordering: .releasing) }

    var isClosed: Bool { state.load(ordering: .acquiring) & Self.closedBit != 0 }

    /// Closes the gate and waits for the operations inside to leave. Idempotent.
    func close() {
        state.bitwiseOr(Self.closedBit, ordering: .sequentiallyConsistent)
        while state.load(ordering: .acquiring) & ~Self.closedBit != 0 { usleep(200) }
    }
}

/// A pthread mutex wrapper local to DecryptFS (Sealing's lock is internal to it).
final class NSLockLike: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }
    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
