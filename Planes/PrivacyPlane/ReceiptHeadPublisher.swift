import ChainCore
import Foundation
public import PlaneProtocol
import Synchronization

/// Publishes the receipt log's head to the DA store every `every` receipts (and when asked, e.g. at shutdown):
/// a ``SignedReceiptHead`` carrying the lines it covers beyond the previous head, stored under its sha256, then
/// the pointer ``ReceiptHead/latestPointer`` rewritten to name it. Where it left off is read back from the
/// pointer, so a restarted plane continues the chain of heads.
public final class ReceiptHeadPublisher: Sendable {
    public let log: ReceiptLog
    public let store: DAStore
    public let every: UInt64
    /// The count and document digest of the last head published (nil: not read yet).
    private let published = Mutex<(count: UInt64, digest: Hash32)?>(nil)

    public init(log: ReceiptLog, store: DAStore, every: UInt64) {
        self.log = log
        self.store = store
        self.every = max(1, every)
    }

    var pointerPath: String { store.root + "/" + ReceiptHead.latestPointer }

    /// The head the pointer names, if it is one this log extends (else none: the chain starts over).
    func readPublished() -> (count: UInt64, digest: Hash32) {
        guard let text = try? String(contentsOfFile: pointerPath, encoding: .utf8),
            let digest = try? Hash32(hex: text.trimmingCharacters(in: .whitespacesAndNewlines)),
            let document = try? store.get(digest, limit: 64 << 20),
            let head = try? SignedReceiptHead(document: document),
            head.head.count <= log.durableHead.count
        else { return (0, .zero) }
        return (head.head.count, digest)
    }

    /// Publishes a head if `every` receipts (or, with `force`, any) are on disk beyond the last one published;
    /// returns the new head, or nil when none was due.
    @discardableResult
    public func publishIfDue(force: Bool = false) throws(PrivacyPlaneError) -> SignedReceiptHead? {
        try published.withLock { (state) throws(PrivacyPlaneError) -> SignedReceiptHead? in
            let last = state ?? readPublished()
            state = last
            let (count, head) = log.durableHead
            guard count > last.count, force || count - last.count >= every else { return nil }
            let lines = try log.lines(from: last.count, limit: Int(count - last.count))
            guard lines.count == Int(count - last.count) else {
                throw PrivacyPlaneError(
                    .storage,
                    "the receipt log returned \(lines.count) of \(count - last.count) lines"
                )
            }
            let signed = try log.signHead(
                ReceiptHead(count: count, head: head, from: last.count, previous: last.digest),
                receipts: lines.map { String(decoding: $0.line, as: UTF8.self) }
            )
            let digest: Hash32
            try? FileManager.default.createDirectory(
                atPath: (pointerPath as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true
            )
            do throws(PlaneProtocolError) {
                digest = try store.put(signed.encoded())
                try DAStore.writeAtomically(Array((digest.hex + "\n").utf8), to: pointerPath)
            } catch {
                throw PrivacyPlaneError(.storage, "cannot publish the receipt head: \(error.reason)")
            }
            state = (count, digest)
            return signed
        }
    }
}
