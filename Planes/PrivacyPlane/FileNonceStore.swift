import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A `NonceStore` that issues nonces in memory and records their use in one append-only file.
///
/// Issuing a nonce touches no disk: unused nonces live only in memory, so `GET /v1/nonce` never waits for an
/// `fsync` (a burst of nonce requests cannot stall the server's threads). A restart forgets them: a wallet
/// that was signing in asks for a new nonce, and no nonce issued before a restart is accepted after it. A
/// nonce's use is written and `fsync`ed before `consume` returns (once per sign-in, after its signature
/// verified), so the file is the durable record of which nonces were used.
///
/// Format (ASCII, one record per LF-terminated line; nonces are letters and digits only):
///
///     delong-siwe-nonces v1           first line
///     U <nonce> <expiry, Unix s>      used
///     I <nonce> <expiry, Unix s>      issued (older versions; still read)
///     U <nonce>                       used, after its I line (older versions; still read)
///
/// A crash can only leave a torn last line, whose operation never returned; it is cut off at the next open.
/// Compaction (when the log has grown to twice its live size, and at least `compactionThreshold` records)
/// drops nonces past their expiry — those are refused anyway — and replaces the file atomically: write a
/// temporary file, `fsync` it, `rename` it over the log, `fsync` the directory. The file is `flock`ed, so a
/// second process cannot open the same store; one process uses one instance from any number of threads.
/// At most `maxOutstanding` unexpired nonces are held; beyond that issuing is refused.
public final class FileNonceStore: NonceStore {
    /// The log's path.
    public let path: String
    /// Compaction is considered once the log holds this many records.
    public let compactionThreshold: Int
    /// The most unexpired nonces held in memory at once.
    public let maxOutstanding: Int
    private let state: Mutex<State>

    static let header = "delong-siwe-nonces v1"
    /// Longer strings are never nonces we issued, and are not looked up.
    static let maxNonceLength = 128

    private struct State {
        var fd: Int32
        var entries: [String: Entry]
        var records: Int
        var nextCompaction: Int
        var durableWrites = 0
    }

    private struct Entry {
        var expires: Int64
        var used: Bool
    }

    /// Opens (or creates, mode 0600) the log at `path` and replays it.
    public init(path: String, compactionThreshold: Int = 4096, maxOutstanding: Int = 1 << 17) throws(PrivacyPlaneError)
    {
        self.path = path
        self.compactionThreshold = max(16, compactionThreshold)
        self.maxOutstanding = max(16, maxOutstanding)
        let fd = try LogFile.openLocked(path, flags: O_RDWR | O_CREAT | O_APPEND)
        do {
            let (entries, records) = try Self.replay(fd: fd, path: path)
            state = Mutex(
                State(
                    fd: fd,
                    entries: entries,
                    records: records,
                    nextCompaction: max(self.compactionThreshold, 2 * records)
                )
            )
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { state.withLock { _ = close($0.fd) } }

    public func issue(now: RFC3339Timestamp, lifetime: Duration) throws(PrivacyPlaneError) -> IssuedNonce {
        guard lifetime > .zero, let expiry = now.adding(lifetime) else {
            throw PrivacyPlaneError(.invalidConfiguration, "nonce lifetime \(lifetime) from \(now) is not usable")
        }
        let nonce = NonceGenerator.make()
        let expires = expiry.unixSeconds
        let cap = maxOutstanding
        try state.withLock { (s: inout State) throws(PrivacyPlaneError) in
            if s.entries.count >= cap {
                s.entries = s.entries.filter { $0.value.expires > now.unixSeconds }
                guard s.entries.count < cap else {
                    throw PrivacyPlaneError(
                        .storage,
                        "\(cap) sign-in nonces are outstanding; refusing more until some expire"
                    )
                }
            }
            s.entries[nonce] = Entry(expires: expires, used: false)
        }
        return IssuedNonce(value: nonce, expiresAt: RFC3339Timestamp(unixSeconds: expires))
    }

    public func consume(_ nonce: String, now: RFC3339Timestamp) throws(PrivacyPlaneError) -> NonceConsumption {
        guard Self.isNonceShaped(nonce) else { return .unknown }
        let path = self.path
        let threshold = compactionThreshold
        return try state.withLock { (s: inout State) throws(PrivacyPlaneError) -> NonceConsumption in
            guard let entry = s.entries[nonce] else { return .unknown }
            if entry.used { return .alreadyUsed }
            if now.unixSeconds >= entry.expires { return .expired }
            // Marked used before the write: if the write fails the caller refuses the sign-in, and the nonce
            // stays burned in memory (fail closed) even though the file may not say so.
            s.entries[nonce]?.used = true
            try Self.append("U \(nonce) \(entry.expires)\n", fd: s.fd, path: path)
            s.durableWrites += 1
            s.records += 1
            if s.records >= s.nextCompaction {
                try Self.compact(&s, path: path, now: now)
                s.nextCompaction = max(threshold, 2 * s.records)
            }
            return .consumed
        }
    }

    /// Drops nonces expired at `now` and rewrites the log atomically.
    public func compact(now: RFC3339Timestamp) throws(PrivacyPlaneError) {
        let path = self.path
        try state.withLock { (s: inout State) throws(PrivacyPlaneError) in
            try Self.compact(&s, path: path, now: now)
        }
    }

    /// How many records the log file holds now (for tests and metrics).
    public var recordCount: Int { state.withLock { $0.records } }

    /// How many records were written and `fsync`ed since this instance opened (issuing writes none).
    public var durableWrites: Int { state.withLock { $0.durableWrites } }

    /// How many nonces (used or not, unexpired or not yet dropped) are held in memory.
    public var heldCount: Int { state.withLock { $0.entries.count } }

    // MARK: File operations

    static func isNonceShaped(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= maxNonceLength
            && s.utf8.allSatisfy { URIGrammar.isAlpha($0) || URIGrammar.isDigit($0) }
    }

    private static func compact(_ s: inout State, path: String, now: RFC3339Timestamp) throws(PrivacyPlaneError) {
        let cutoff = now.unixSeconds
        // Unused nonces stay in memory only; used ones are kept until they expire.
        let live = s.entries.filter { $0.value.expires > cutoff }
        var text = header + "\n"
        var records = 0
        for (nonce, entry) in live.sorted(by: { $0.key < $1.key }) where entry.used {
            text += "U \(nonce) \(entry.expires)\n"
            records += 1
        }
        // The temporary file is opened for appending and locked before it replaces the log, so the store
        // never runs on an unlocked file or on the unlinked old one, whatever fails in between.
        let temporary = path + ".tmp"
        let tfd = try LogFile.openLocked(temporary, flags: O_RDWR | O_CREAT | O_TRUNC | O_APPEND)
        do throws(PrivacyPlaneError) {
            try LogFile.writeAll(Array(text.utf8), fd: tfd, path: temporary)
            guard fsync(tfd) == 0 else { throw LogFile.storageError("cannot fsync \(temporary)") }
            guard rename(temporary, path) == 0 else {
                throw LogFile.storageError("cannot rename \(temporary) over \(path)")
            }
        } catch {
            close(tfd)
            unlink(temporary)
            throw error
        }
        close(s.fd)
        s.fd = tfd
        s.entries = live
        s.records = records
        try LogFile.fsyncDirectory(of: path)
    }

    /// Reads the log, cuts off a torn last line, and rebuilds the in-memory state.
    private static func replay(fd: Int32, path: String) throws(PrivacyPlaneError) -> ([String: Entry], Int) {
        let lines = try LogFile.openLines(fd: fd, path: path, header: header)
        var entries: [String: Entry] = [:]
        var records = 0
        for (offset, line) in lines.enumerated() {
            let fields = line.split(separator: 0x20, omittingEmptySubsequences: false).map {
                String(decoding: $0, as: UTF8.self)
            }
            let lineNumber = offset + 2
            if fields.count == 3, fields[0] == "I", isNonceShaped(fields[1]), let expires = Int64(fields[2]) {
                entries[fields[1]] = Entry(expires: expires, used: false)
            } else if fields.count == 2, fields[0] == "U", entries[fields[1]] != nil {
                entries[fields[1]]?.used = true
            } else if fields.count == 3, fields[0] == "U", isNonceShaped(fields[1]), let expires = Int64(fields[2]) {
                entries[fields[1]] = Entry(expires: expires, used: true)
            } else {
                throw PrivacyPlaneError(
                    .corruptStore,
                    "\(path) line \(lineNumber): expected \"U <nonce> <expiry>\", \"I <nonce> <expiry>\" or \"U <issued nonce>\", found "
                        + SIWEMessage.quoted(String(decoding: line, as: UTF8.self))
                )
            }
            records += 1
        }
        return (entries, records)
    }

    private static func append(_ record: String, fd: Int32, path: String) throws(PrivacyPlaneError) {
        try LogFile.append(Array(record.utf8), fd: fd, path: path)
    }
}
