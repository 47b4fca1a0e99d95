public import ChainCore
import Foundation
public import PlaneCrypto
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The append-only log of signed key-release receipts, and the record of which tokens were used.
///
/// Format: the line `delong-key-receipts v1`, then one JSON object per line:
/// `{"receipt": {…the EIP-712 message…}, "hash": "0x…", "signature": "0x…(65 bytes r‖s‖v)"}`.
/// Receipts are hash-chained (see `KeyReleaseReceipt`). A token is used exactly when a receipt names it,
/// so single use survives restarts without a second store.
///
/// Durability: a release returns its key only after its receipt is on disk. Concurrent appends are group
/// committed by one writer thread — it takes every queued line, writes them with one `write` and one
/// `fsync`, then resumes their callers — so many releases share one disk flush and no Swift concurrency
/// thread ever blocks in `fsync`. A failed write closes the log (every later append is refused) until the
/// plane restarts and the torn tail is cut: the log fails closed, never forks.
public final class ReceiptLog: Sendable {
    public let path: String
    public let domain: TokenDomain
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

    private struct State {
        var fd: Int32
        var next: UInt64
        var last: Hash32
        var usedTokens: Set<Hash32>
        /// File offset of each receipt's line, and of the end of the last one.
        var offsets: [Int]
        var end: Int
        /// Receipts known to be on disk (only these are served).
        var durable: Int
        var pending: [Pending] = []
        var stopping = false
        var broken: String?
    }

    private struct Pending {
        let line: [UInt8]
        let signed: SignedReceipt
        let continuation: CheckedContinuation<SignedReceipt, any Error>
    }

    /// Opens (or creates, mode 0600) the log and replays it: the chain of hashes must hold and every hash
    /// must match its receipt, or the log is refused as corrupt.
    public init(path: String, domain: TokenDomain, signingKey: SecretBytes) throws(PrivacyPlaneError) {
        self.path = path
        self.domain = domain
        self.signingKey = signingKey
        let fd = try LogFile.openLocked(path, flags: O_RDWR | O_CREAT | O_APPEND)
        do throws(PrivacyPlaneError) {
            var next: UInt64 = 0
            var last = Hash32.zero
            var used = Set<Hash32>()
            var offsets: [Int] = []
            var end = Self.header.utf8.count + 1
            for (offset, line) in try LogFile.openLines(fd: fd, path: path, header: Self.header).enumerated() {
                offsets.append(end)
                end += line.count + 1
                let signed = try Self.decode(Array(line), domain: domain, at: "\(path) line \(offset + 2)")
                guard signed.receipt.sequence == next, signed.receipt.previous == last else {
                    throw PrivacyPlaneError(
                        .corruptStore,
                        "\(path) line \(offset + 2): expected sequence \(next) after \(last.hex), found \(signed.receipt.sequence) after \(signed.receipt.previous.hex)"
                    )
                }
                if signed.receipt.token != .zero { used.insert(signed.receipt.token) }
                next += 1
                last = signed.hash
            }
            journal = Journal(
                State(
                    fd: fd,
                    next: next,
                    last: last,
                    usedTokens: used,
                    offsets: offsets,
                    end: end,
                    durable: offsets.count
                )
            )
        } catch {
            close(fd)
            throw error
        }
        let (journal, path) = (self.journal, path)
        let thread = Thread { Self.writer(journal, path: path) }
        thread.name = "delong-receipt-writer"
        thread.start()
    }

    /// Stops the writer thread (nothing is pending: every append holds the log until it returns) and
    /// closes the file, releasing its lock before the next instance opens it.
    deinit {
        journal.state.withLock { $0.stopping = true }
        journal.wake.signal()
        journal.stopped.wait()
        journal.state.withLock { _ = close($0.fd) }
    }

    /// How many receipts the log holds.
    public var count: UInt64 { journal.state.withLock { $0.next } }

    /// Whether a receipt already names `token` (its EIP-712 signing hash).
    public func isUsed(token: Hash32) -> Bool { journal.state.withLock { $0.usedTokens.contains(token) } }

    /// Numbers, chains, signs and durably appends a receipt; returns it once it is on disk. A token already
    /// named by a receipt is refused (`tokenAlreadyUsed`) before anything is written.
    public func append(_ draft: KeyReleaseReceipt) async throws(PrivacyPlaneError) -> SignedReceipt {
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
                        if draft.token != .zero, s.usedTokens.contains(draft.token) {
                            throw PrivacyPlaneError(
                                .tokenAlreadyUsed,
                                "token \(draft.token.hex) was already used for a key release"
                            )
                        }
                        var receipt = draft
                        receipt.sequence = s.next
                        receipt.previous = s.last
                        let signed = try sign(receipt)
                        let line = try Self.encode(signed)
                        if receipt.token != .zero { s.usedTokens.insert(receipt.token) }
                        s.next += 1
                        s.last = signed.hash
                        s.offsets.append(s.end)
                        s.end += line.count
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

    /// Up to `limit` durable receipt lines (JSON objects) from sequence `from` on.
    public func lines(from: UInt64, limit: Int) throws(PrivacyPlaneError) -> [[UInt8]] {
        let (fd, ranges) = journal.state.withLock { s -> (Int32, [(Int, Int)]) in
            guard from < UInt64(s.durable), limit > 0 else { return (s.fd, []) }
            let first = Int(from)
            let last = min(s.durable, first + limit)
            return (
                s.fd,
                (first..<last).map { i in (s.offsets[i], (i + 1 < s.offsets.count ? s.offsets[i + 1] : s.end) - 1) }
            )
        }
        return try ranges.map { (range) throws(PrivacyPlaneError) -> [UInt8] in
            var line = [UInt8](repeating: 0, count: range.1 - range.0)
            let n = line.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(range.0)) }
            guard n == line.count else { throw LogFile.storageError("cannot read \(path)") }
            return line
        }
    }

    /// The writer thread's loop: every wake-up writes whatever is queued as one batch.
    private static func writer(_ journal: Journal, path: String) {
        while true {
            journal.wake.wait()
            let (batch, fd, broken, stopping) = journal.state.withLock { s -> ([Pending], Int32, String?, Bool) in
                let batch = s.pending
                s.pending = []
                return (batch, s.fd, s.broken, s.stopping)
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
                    try LogFile.append(batch.flatMap(\.line), fd: fd, path: path)
                    journal.state.withLock { $0.durable += batch.count }
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

    private func sign(_ receipt: KeyReleaseReceipt) throws(PrivacyPlaneError) -> SignedReceipt {
        let domain = self.domain
        return try PlaneSigner.withKey(signingKey) { (k) throws(ChainError) in
            let hash = try receipt.signingHash(domain)
            return SignedReceipt(
                receipt: receipt,
                hash: hash,
                signature: try Secp256k1.shared.sign(hash, privateKey: k)
            )
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
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
            let r = object["receipt"] as? [String: Any], let hashHex = object["hash"] as? String,
            let signatureHex = object["signature"] as? String
        else { throw corrupt("expected {\"receipt\", \"hash\", \"signature\"}") }
        do {
            func u(_ key: String) throws(PrivacyPlaneError) -> UInt64 {
                guard let s = r[key] as? String, let v = UInt64(s) else {
                    throw corrupt("\(key): expected a decimal string")
                }
                return v
            }
            func h(_ key: String) throws -> Hash32 {
                guard let s = r[key] as? String else { throw corrupt("\(key): expected 0x-hex") }
                return try Hash32(hex: s)
            }
            func small(_ key: String) throws(PrivacyPlaneError) -> UInt8 {
                guard let v = r[key] as? Int, let b = UInt8(exactly: v) else {
                    throw corrupt("\(key): expected 0...255")
                }
                return b
            }
            guard let kind = KeyReleaseReceipt.Kind(rawValue: try small("kind")),
                let evidenceKind = EvidenceKind(rawValue: try small("evidenceKind")),
                let recipient = r["recipient"] as? String, let keyVersion = UInt32(exactly: try u("keyVersion"))
            else { throw corrupt("kind, evidenceKind, recipient or keyVersion out of range") }
            let receipt = KeyReleaseReceipt(
                sequence: try u("sequence"),
                previous: try h("previous"),
                kind: kind,
                rental: try h("rental"),
                dataset: try h("dataset"),
                recipient: try Address(hex: recipient),
                blockNumber: try u("blockNumber"),
                blockHash: try h("blockHash"),
                token: try h("token"),
                evidence: try h("evidence"),
                evidenceKind: evidenceKind,
                imageDigest: try h("imageDigest"),
                jobID: try h("jobId"),
                keyVersion: keyVersion,
                releasedAt: try u("releasedAt")
            )
            let hash = try Hash32(hex: hashHex)
            guard try receipt.signingHash(domain) == hash else {
                throw corrupt("hash \(hashHex) is not the receipt's signing hash")
            }
            return SignedReceipt(receipt: receipt, hash: hash, signature: try Signature(rsv: Hex.decode(signatureHex)))
        } catch let error as PrivacyPlaneError {
            throw error
        } catch {
            throw corrupt("\(error)")
        }
    }
}
