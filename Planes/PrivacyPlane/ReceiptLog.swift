public import ChainCore
import Foundation
public import PlaneCrypto
public import PlaneProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The append-only log of signed key-release receipts, and the record of which tokens were used.
///
/// Format: segments of lines. Each segment starts with the line `delong-key-receipts v1`, then one JSON
/// object per line: `{"receipt": {…the EIP-712 message…}, "hash": "0x…", "signature": "0x…(65 bytes r‖s‖v)"}`.
/// `path` is the active segment; once it holds `segmentBytes`, it is renamed `path.<first sequence, 20
/// digits>` (sealed) and a new one starts. Receipts are hash-chained across segments (see
/// `KeyReleaseReceipt`). A token is used exactly when a receipt names it, so single use survives restarts
/// without a second store. Replay streams every segment (memory follows the used tokens, not the log).
///
/// Used tokens are forgotten once expired: a token used at `releasedAt` expires by `releasedAt +
/// tokenLifetime`; once the plane's time (the latest `releasedAt`, which never goes back) is past that, it is
/// dropped, and every token whose expiry is not after that time — or that lasts longer than `tokenLifetime`
/// — is refused, so a forgotten token can never be used again, even under a clock moved back.
///
/// Anchor: `path.anchor` holds the count and last hash of the durable log, rewritten and `fsync`ed after
/// every batch. At open, a log that ends before its anchor (a cut tail, a deleted file or segment) or whose
/// receipt at the anchor's count has another hash is refused. The anchor file is also the process lock.
///
/// Durability: a release returns its key only after its receipt (and the anchor) is on disk. Concurrent
/// appends are group committed by one writer thread — it takes every queued line, writes them with one
/// `write` and one `fsync`, then resumes their callers — so many releases share one disk flush and no Swift
/// concurrency thread ever blocks in `fsync`. A failed write closes the log (every later append is refused)
/// until the plane restarts and the torn tail is cut: the log fails closed, never forks.
public final class ReceiptLog: Sendable {
    public let path: String
    public let domain: TokenDomain
    /// The longest a token lives (the plane's `--max-job-seconds`): how long a used token is remembered.
    public let tokenLifetime: UInt64
    /// The size at which the active segment is sealed and a new one started.
    public let segmentBytes: Int
    private let signingKey: SecretBytes
    private let journal: Journal

    /// What the log and its writer thread share (the thread holds this, not the log, so the log can end).
    private final class Journal: Sendable {
        let state: Mutex<State>
        /// Wakes the writer thread: one signal per queued line, and one to stop.
        let wake = DispatchSemaphore(value: 0)
        let stopped = DispatchSemaphore(value: 0)
        init(_ state: State) { self.state = Mutex(state) }
    }

    static let header = "delong-key-receipts v1"
    static let anchorHeader = "delong-key-receipts-anchor v1"

    /// A sealed segment: its path and the sequence of its first receipt.
    struct Segment: Sendable {
        let first: UInt64
        let path: String
    }

    private struct State {
        var fd: Int32
        var anchorFD: Int32
        /// Sequence of the first receipt of the active segment, and its size on disk (durable part).
        var activeFirst: UInt64
        var activeSize: Int
        var sealed: [Segment]
        var next: UInt64
        var last: Hash32
        /// Used tokens and the plane time after which each may be forgotten.
        var usedTokens: [Hash32: UInt64]
        /// The latest release time seen: tokens expiring at or before it are refused.
        var horizon: UInt64
        var nextPrune: UInt64 = 0
        /// Receipts known to be on disk (only these are served), and the hash of the last of them.
        var durable: UInt64
        var durableLast = Hash32.zero
        var pending: [Pending] = []
        var stopping = false
        var broken: String?
    }

    private struct Pending {
        let line: [UInt8]
        let signed: SignedReceipt
        let continuation: CheckedContinuation<SignedReceipt, any Error>
    }

    /// Opens (or creates, mode 0600) the log and replays it: the chain of hashes must hold, every hash must
    /// match its receipt, and the log must reach its anchor, or the log is refused as corrupt.
    public init(
        path: String,
        domain: TokenDomain,
        signingKey: SecretBytes,
        tokenLifetime: UInt64 = 86_400,
        segmentBytes: Int = 8 << 20
    ) throws(PrivacyPlaneError) {
        self.path = path
        self.domain = domain
        self.signingKey = signingKey
        self.tokenLifetime = tokenLifetime
        self.segmentBytes = max(4096, segmentBytes)
        let anchorFD = try LogFile.openLocked(path + ".anchor", flags: O_RDWR | O_CREAT)
        var fd: Int32 = -1
        do throws(PrivacyPlaneError) {
            let anchor = try Self.readAnchor(anchorFD, path: path + ".anchor")
            let sealed = try Self.sealedSegments(of: path)
            if let anchor, anchor.count > 0, sealed.isEmpty, access(path, F_OK) != 0 {
                throw PrivacyPlaneError(
                    .corruptStore,
                    "\(path) is missing but its anchor records \(anchor.count) receipts: the log was deleted"
                )
            }
            var replay = Replay(domain: domain, tokenLifetime: tokenLifetime, anchor: anchor)
            for segment in sealed {
                let sfd = open(segment.path, O_RDONLY | O_CLOEXEC)
                guard sfd >= 0 else { throw LogFile.storageError("cannot open \(segment.path)") }
                defer { close(sfd) }
                guard replay.next == segment.first else {
                    throw PrivacyPlaneError(
                        .corruptStore,
                        "\(segment.path): expected its first receipt to be \(replay.next), the name says \(segment.first)"
                    )
                }
                try replay.segment(sfd, path: segment.path, active: false)
            }
            fd = try LogFile.openLocked(path, flags: O_RDWR | O_CREAT | O_APPEND)
            let activeFirst = replay.next
            let activeSize = try replay.segment(fd, path: path, active: true)
            if let anchor {
                guard replay.next >= anchor.count else {
                    throw PrivacyPlaneError(
                        .corruptStore,
                        "\(path) ends after \(replay.next) receipts but its anchor records \(anchor.count): its tail was cut or a segment deleted"
                    )
                }
                guard anchor.count == 0 || replay.anchorMatched else {
                    throw PrivacyPlaneError(
                        .corruptStore,
                        "receipt \(anchor.count - 1) of \(path) is not the one its anchor records (\(anchor.last.hex))"
                    )
                }
            }
            if anchor?.count != replay.next || anchor?.last != replay.last {
                try Self.writeAnchor(anchorFD, count: replay.next, last: replay.last, path: path + ".anchor")
            }
            var used = replay.used
            used = used.filter { $0.value > replay.horizon }
            journal = Journal(
                State(
                    fd: fd,
                    anchorFD: anchorFD,
                    activeFirst: activeFirst,
                    activeSize: activeSize,
                    sealed: sealed,
                    next: replay.next,
                    last: replay.last,
                    usedTokens: used,
                    horizon: replay.horizon,
                    durable: replay.next,
                    durableLast: replay.last
                )
            )
        } catch {
            if fd >= 0 { close(fd) }
            close(anchorFD)
            throw error
        }
        let (journal, path, segmentBytes) = (self.journal, path, self.segmentBytes)
        let thread = Thread { Self.writer(journal, path: path, segmentBytes: segmentBytes) }
        thread.name = "delong-receipt-writer"
        thread.start()
    }

    /// Stops the writer thread (nothing is pending: every append holds the log until it returns) and
    /// closes the files, releasing the lock before the next instance opens them.
    deinit {
        journal.state.withLock { $0.stopping = true }
        journal.wake.signal()
        journal.stopped.wait()
        journal.state.withLock {
            _ = close($0.fd)
            _ = close($0.anchorFD)
        }
    }

    /// How many receipts the log holds.
    public var count: UInt64 { journal.state.withLock { $0.next } }

    /// The durable log's length and the hash of its last receipt (zero when empty).
    public var head: (count: UInt64, last: Hash32) {
        journal.state.withLock { s in (s.durable, s.durable == s.next ? s.last : s.durableLast) }
    }

    /// How many used tokens are remembered now (the others expired and were forgotten).
    public var rememberedTokens: Int { journal.state.withLock { $0.usedTokens.count } }

    /// The sealed segments' paths, oldest first.
    public var sealedSegmentPaths: [String] { journal.state.withLock { $0.sealed.map(\.path) } }

    /// Whether a receipt already names `token` (its EIP-712 signing hash).
    public func isUsed(token: Hash32) -> Bool { journal.state.withLock { $0.usedTokens[token] != nil } }

    /// Numbers, chains, signs and durably appends a receipt; returns it once it is on disk. A token already
    /// named by a receipt is refused (`tokenAlreadyUsed`) before anything is written, and so is one whose
    /// window (`tokenNotBefore`..<`tokenExpiry`) is longer than `tokenLifetime` or ends at or before the
    /// latest release time (it could have been used and forgotten).
    public func append(
        _ draft: KeyReleaseReceipt,
        tokenNotBefore: UInt64 = 0,
        tokenExpiry: UInt64 = 0
    ) async throws(PrivacyPlaneError) -> SignedReceipt {
        let lifetime = tokenLifetime
        do {
            return try await withCheckedThrowingContinuation { (c: CheckedContinuation<SignedReceipt, any Error>) in
                let lead: Bool
                do {
                    // Numbering, chaining and queueing happen under one lock, so file order is sequence order.
                    lead = try journal.state.withLock { (s: inout State) throws(PrivacyPlaneError) -> Bool in
                        if let broken = s.broken {
                            throw PrivacyPlaneError(
                                .storage,
                                "the receipt log is closed after a failed write: \(broken)"
                            )
                        }
                        if draft.token != .zero {
                            if s.usedTokens[draft.token] != nil {
                                throw PrivacyPlaneError(
                                    .tokenAlreadyUsed,
                                    "token \(draft.token.hex) was already used for a key release"
                                )
                            }
                            guard tokenExpiry > s.horizon, tokenExpiry >= tokenNotBefore,
                                tokenExpiry - tokenNotBefore <= lifetime, tokenNotBefore <= draft.releasedAt
                            else {
                                throw PrivacyPlaneError(
                                    .tokenRefused,
                                    "token window \(tokenNotBefore)..<\(tokenExpiry) is longer than \(lifetime) s or ends by the plane's latest release time \(s.horizon)"
                                )
                            }
                        }
                        var receipt = draft
                        receipt.sequence = s.next
                        receipt.previous = s.last
                        let signed = try sign(receipt)
                        let line = try Self.encode(signed)
                        if receipt.token != .zero { s.usedTokens[receipt.token] = receipt.releasedAt + lifetime }
                        Self.advance(&s, to: receipt.releasedAt)
                        s.next += 1
                        s.last = signed.hash
                        s.pending.append(Pending(line: line, signed: signed, continuation: c))
                        return true
                    }
                } catch {
                    c.resume(throwing: error)
                    return
                }
                if lead { journal.wake.signal() }
            }
        } catch let error as PrivacyPlaneError {
            throw error
        } catch {
            throw PrivacyPlaneError(.storage, "\(error)")
        }
    }

    /// Moves the plane's time forward and, once a minute of it, forgets tokens that expired.
    private static func advance(_ s: inout State, to time: UInt64) {
        guard time > s.horizon else { return }
        s.horizon = time
        if time >= s.nextPrune {
            s.usedTokens = s.usedTokens.filter { $0.value > time }
            s.nextPrune = time + 60
        }
    }

    /// How many receipts are on disk and the last one's hash (what a published receipt head covers).
    public var durableHead: (count: UInt64, last: Hash32) {
        journal.state.withLock { ($0.durable, $0.durableLast) }
    }

    /// Signs a receipt-log head with the plane's receipt key (the on-chain privacy signer).
    public func signHead(_ head: ReceiptHead, receipts: [String]) throws(PrivacyPlaneError) -> SignedReceiptHead {
        let domain = self.domain
        return try PlaneSigner.withKey(signingKey) { (k) throws(ChainError) in
            try SignedReceiptHead(signing: head, receipts: receipts, domain: domain, privateKey: k)
        }
    }

    /// Up to `limit` durable receipt lines (JSON objects) from sequence `from` on, each with its sequence,
    /// read by streaming the segment that holds `from` and the ones after it.
    public func lines(from: UInt64, limit: Int) throws(PrivacyPlaneError) -> [(sequence: UInt64, line: [UInt8])] {
        var attempt = 0
        while true {
            let (segments, durable) = journal.state.withLock { s -> ([Segment], UInt64) in
                (s.sealed + [Segment(first: s.activeFirst, path: path)], s.durable)
            }
            guard from < durable, limit > 0 else { return [] }
            var out: [(sequence: UInt64, line: [UInt8])] = []
            do throws(PrivacyPlaneError) {
                for (i, segment) in segments.enumerated() {
                    let end = i + 1 < segments.count ? segments[i + 1].first : durable
                    guard end > from, out.count < limit else { continue }
                    let fd = open(segment.path, O_RDONLY | O_CLOEXEC)
                    guard fd >= 0 else { throw LogFile.storageError("cannot open \(segment.path)") }
                    defer { close(fd) }
                    var sequence = segment.first
                    var first = true
                    _ = try LogFile.forEachLine(fd: fd, path: segment.path) { line in
                        if first {
                            first = false
                            return true
                        }
                        defer { sequence += 1 }
                        guard sequence < end, out.count < limit else { return false }
                        if sequence >= from { out.append((sequence, Array(line))) }
                        return true
                    }
                }
                return out
            } catch {
                // A segment sealed (renamed) between the snapshot and the open: look again, once or twice.
                attempt += 1
                if attempt >= 3 { throw error }
            }
        }
    }

    /// The writer thread's loop: every wake-up writes whatever is queued as one batch, then the anchor, then
    /// seals the active segment when it is full.
    private static func writer(_ journal: Journal, path: String, segmentBytes: Int) {
        while true {
            journal.wake.wait()
            let (batch, fd, anchorFD, broken, stopping) = journal.state.withLock {
                s -> ([Pending], Int32, Int32, String?, Bool) in
                let batch = s.pending
                s.pending = []
                return (batch, s.fd, s.anchorFD, s.broken, s.stopping)
            }
            if batch.isEmpty {
                if stopping { break }
                continue
            }
            var failure: PrivacyPlaneError?
            if let broken {
                failure = PrivacyPlaneError(.storage, "the receipt log is closed after a failed write: \(broken)")
            } else {
                do throws(PrivacyPlaneError) {
                    let bytes = batch.flatMap(\.line)
                    try LogFile.append(bytes, fd: fd, path: path)
                    let (count, last, size, first) = journal.state.withLock {
                        s -> (UInt64, Hash32, Int, UInt64) in
                        s.durable += UInt64(batch.count)
                        s.durableLast = batch.last!.signed.hash
                        s.activeSize += bytes.count
                        return (s.durable, batch.last!.signed.hash, s.activeSize, s.activeFirst)
                    }
                    try writeAnchor(anchorFD, count: count, last: last, path: path + ".anchor")
                    if size >= segmentBytes { try seal(journal, path: path, first: first, next: count) }
                } catch {
                    failure = error
                    journal.state.withLock { $0.broken = error.reason }
                }
            }
            for p in batch {
                if let failure {
                    p.continuation.resume(throwing: failure)
                } else {
                    p.continuation.resume(returning: p.signed)
                }
            }
        }
        journal.stopped.signal()
    }

    /// Renames the full active segment to its sealed name and starts a new one. Runs on the writer thread
    /// between batches, so no line is in flight; the lines queued meanwhile go to the new segment, whose
    /// first receipt is `next` (every queued receipt comes after the durable ones).
    private static func seal(_ journal: Journal, path: String, first: UInt64, next: UInt64) throws(PrivacyPlaneError) {
        let sealedPath = segmentPath(path, first: first)
        guard rename(path, sealedPath) == 0 else { throw LogFile.storageError("cannot seal \(path)") }
        let fd = try LogFile.openLocked(path, flags: O_RDWR | O_CREAT | O_APPEND)
        do throws(PrivacyPlaneError) {
            try LogFile.append(Array((header + "\n").utf8), fd: fd, path: path)
            try LogFile.fsyncDirectory(of: path)
        } catch {
            close(fd)
            throw error
        }
        let old = journal.state.withLock { s -> Int32 in
            let old = s.fd
            s.fd = fd
            s.sealed.append(Segment(first: first, path: sealedPath))
            s.activeFirst = next
            s.activeSize = header.utf8.count + 1
            return old
        }
        close(old)
    }

    static func segmentPath(_ path: String, first: UInt64) -> String {
        let digits = String(first)
        return path + "." + String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// The sealed segments beside `path`, oldest first.
    static func sealedSegments(of path: String) throws(PrivacyPlaneError) -> [Segment] {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let prefix = url.lastPathComponent + "."
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw PrivacyPlaneError(.storage, "cannot list \(directory): \(error)")
        }
        return names.compactMap { name -> Segment? in
            guard name.hasPrefix(prefix) else { return nil }
            let digits = name.dropFirst(prefix.count)
            guard digits.count == 20, digits.allSatisfy(\.isASCII), let first = UInt64(digits) else { return nil }
            return Segment(first: first, path: (directory as NSString).appendingPathComponent(name))
        }.sorted { $0.first < $1.first }
    }

    // MARK: Anchor

    static func readAnchor(_ fd: Int32, path: String) throws(PrivacyPlaneError) -> (count: UInt64, last: Hash32)? {
        var data: [UInt8] = []
        _ = try LogFile.forEachLine(fd: fd, path: path) { line in
            data.append(contentsOf: line)
            data.append(0x0A)
            return true
        }
        if data.isEmpty { return nil }
        let lines = data.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
        let fields = lines.count == 2 ? lines[1].split(separator: " ").map(String.init) : []
        guard lines.first == anchorHeader, fields.count == 2, let count = UInt64(fields[0]),
            let last = try? Hash32(hex: fields[1])
        else {
            throw PrivacyPlaneError(.corruptStore, "\(path): expected \"\(anchorHeader)\" and \"<count> <hash>\"")
        }
        return (count, last)
    }

    /// Rewrites the anchor in place (one short `pwrite` at offset 0, then `fsync`): the record has a fixed size.
    static func writeAnchor(_ fd: Int32, count: UInt64, last: Hash32, path: String) throws(PrivacyPlaneError) {
        let digits = String(count)
        let text =
            anchorHeader + "\n" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + " "
            + last.hex + "\n"
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard n == bytes.count, ftruncate(fd, off_t(bytes.count)) == 0, fsync(fd) == 0 else {
            throw LogFile.storageError("cannot write \(path)")
        }
    }

    /// Replays segments in order: checks the chain and collects the used tokens and the latest release time.
    private struct Replay {
        let domain: TokenDomain
        let tokenLifetime: UInt64
        let anchor: (count: UInt64, last: Hash32)?
        var next: UInt64 = 0
        var last = Hash32.zero
        var used: [Hash32: UInt64] = [:]
        var horizon: UInt64 = 0
        var anchorMatched = false

        init(domain: TokenDomain, tokenLifetime: UInt64, anchor: (count: UInt64, last: Hash32)?) {
            self.domain = domain
            self.tokenLifetime = tokenLifetime
            self.anchor = anchor
        }

        /// Streams one segment; the active one may be new (a header is written) or torn (cut). Returns its size.
        @discardableResult
        mutating func segment(_ fd: Int32, path: String, active: Bool) throws(PrivacyPlaneError) -> Int {
            var lineNumber = 0
            var headerSeen = false
            var me = self
            let (complete, total) = try LogFile.forEachLine(fd: fd, path: path) { (line) throws(PrivacyPlaneError) in
                lineNumber += 1
                if !headerSeen {
                    guard line.elementsEqual(ReceiptLog.header.utf8) else {
                        throw PrivacyPlaneError(.corruptStore, "\(path) does not start with \"\(ReceiptLog.header)\"")
                    }
                    headerSeen = true
                    return true
                }
                try me.receipt(Array(line), at: "\(path) line \(lineNumber)")
                return true
            }
            self = me
            let headerLine = Array((ReceiptLog.header + "\n").utf8)
            if complete < total {
                guard active else { throw PrivacyPlaneError(.corruptStore, "\(path) ends in a torn line") }
                guard ftruncate(fd, off_t(complete)) == 0, fsync(fd) == 0 else {
                    throw LogFile.storageError("cannot cut the torn last record of \(path)")
                }
            }
            if complete == 0 {
                guard active else { throw PrivacyPlaneError(.corruptStore, "\(path) is empty") }
                // A new file, or a crash while writing the header.
                guard ftruncate(fd, 0) == 0 else { throw LogFile.storageError("cannot truncate \(path)") }
                try LogFile.append(headerLine, fd: fd, path: path)
                try LogFile.fsyncDirectory(of: path)
                return headerLine.count
            }
            return complete
        }

        mutating func receipt(_ line: [UInt8], at place: String) throws(PrivacyPlaneError) {
            let signed = try ReceiptLog.decode(line, domain: domain, at: place)
            guard signed.receipt.sequence == next, signed.receipt.previous == last else {
                throw PrivacyPlaneError(
                    .corruptStore,
                    "\(place): expected sequence \(next) after \(last.hex), found \(signed.receipt.sequence) after \(signed.receipt.previous.hex)"
                )
            }
            if signed.receipt.token != .zero { used[signed.receipt.token] = signed.receipt.releasedAt + tokenLifetime }
            horizon = max(horizon, signed.receipt.releasedAt)
            next += 1
            last = signed.hash
            if let anchor, next == anchor.count, last == anchor.last { anchorMatched = true }
        }
    }

    private func sign(_ receipt: KeyReleaseReceipt) throws(PrivacyPlaneError) -> SignedReceipt {
        let domain = self.domain
        return try PlaneSigner.withKey(signingKey) { (k) throws(ChainError) in
            try SignedReceipt(signing: receipt, domain: domain, privateKey: k)
        }
    }

    // MARK: Encoding

    /// One log line: the receipt's JSON with sorted keys, written directly (every value is a hex or decimal
    /// string or a small integer, so nothing needs escaping), then LF.
    static func encode(_ signed: SignedReceipt) throws(PrivacyPlaneError) -> [UInt8] {
        func object(_ fields: [String: Any]) throws(PrivacyPlaneError) -> String {
            var parts: [String] = []
            for key in fields.keys.sorted() {
                switch fields[key] {
                case let s as String where s.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C && $0 < 0x7F }):
                    parts.append("\"\(key)\":\"\(s)\"")
                case let i as Int: parts.append("\"\(key)\":\(i)")
                case let nested as [String: Any]: parts.append("\"\(key)\":" + (try object(nested)))
                default: throw PrivacyPlaneError(.storage, "cannot encode receipt field \(key)")
                }
            }
            return "{" + parts.joined(separator: ",") + "}"
        }
        return Array(try object(signed.json).utf8) + [0x0A]
    }

    /// Parses one log line and checks that its hash is the receipt's signing hash under `domain`.
    public static func decode(
        _ line: [UInt8],
        domain: TokenDomain,
        at place: String
    ) throws(PrivacyPlaneError) -> SignedReceipt {
        func corrupt(_ what: String) -> PrivacyPlaneError { PrivacyPlaneError(.corruptStore, "\(place): \(what)") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
            throw corrupt("expected {\"receipt\", \"hash\", \"signature\"}")
        }
        let signed: SignedReceipt
        do { signed = try SignedReceipt(json: object) } catch { throw corrupt(error.reason) }
        guard let expected = try? signed.receipt.signingHash(domain), expected == signed.hash else {
            throw corrupt("hash \(signed.hash.hex) is not the receipt's signing hash")
        }
        return signed
    }
}
