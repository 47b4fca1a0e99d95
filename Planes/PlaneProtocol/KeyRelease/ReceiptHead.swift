public import ChainCore
import Foundation

/// What the Privacy Plane publishes to the DA store every N receipts: the head of its hash-chained receipt
/// log (how many receipts, the last one's signing hash), signed with the plane's receipt key under the token
/// domain, so an auditor checks it with `ecrecover` against the on-chain privacy signer:
///
///     DeLongReceiptHead(uint64 count,bytes32 head,uint64 from,bytes32 previous)
///
/// `from` is the count the previous published head covered and `previous` that head document's sha256 (zero
/// for the first): the heads form a chain back to the log's start. A published head fixes the log prefix it
/// covers: a receipt inside it cannot be removed or edited later without the chain of hashes breaking.
public struct ReceiptHead: Hashable, Sendable {
    public var count: UInt64
    public var head: Hash32
    public var from: UInt64
    public var previous: Hash32

    public init(count: UInt64, head: Hash32, from: UInt64, previous: Hash32) {
        self.count = count
        self.head = head
        self.from = from
        self.previous = previous
    }

    static let staticType = StaticTypedData(
        "DeLongReceiptHead",
        [
            .init(name: "count", type: "uint64"), .init(name: "head", type: "bytes32"),
            .init(name: "from", type: "uint64"), .init(name: "previous", type: "bytes32"),
        ]
    )

    /// The digest the plane signs (EIP-712 under the token domain).
    public func signingHash(_ domain: TokenDomain) -> Hash32 {
        let W = StaticTypedData.self
        let words = W.word(count) + head.bytes + W.word(from) + previous.bytes
        return Self.staticType.signingHash(domainSeparator: domain.separator, words: words)
    }

    /// Where the pointer to the latest head document lives, relative to the DA store's root (it holds the
    /// document's digest as 0x-hex); the documents themselves are content-addressed objects.
    public static let latestPointer = "receipt-heads/latest"
}

/// A published head: the signed ``ReceiptHead`` and the receipt log lines it covers beyond the previous head
/// (receipts `from..<count`, each the plane's JSON line), stored in the DA store under its sha256.
public struct SignedReceiptHead: Sendable {
    public var head: ReceiptHead
    public var signature: Signature
    /// The log's lines for receipts `head.from..<head.count`, as written.
    public var receipts: [String]

    public init(head: ReceiptHead, signature: Signature, receipts: [String]) {
        self.head = head
        self.signature = signature
        self.receipts = receipts
    }

    /// Signs `head` under `domain` with the plane's receipt key.
    public init(
        signing head: ReceiptHead,
        receipts: [String],
        domain: TokenDomain,
        privateKey: [UInt8]
    ) throws(ChainError) {
        self.init(
            head: head,
            signature: try Secp256k1.shared.sign(head.signingHash(domain), privateKey: privateKey),
            receipts: receipts
        )
    }

    /// Who signed the head under `domain`.
    public func signer(_ domain: TokenDomain) throws(PlaneProtocolError) -> Address {
        do { return try Secp256k1.shared.recoverAddress(head.signingHash(domain), signature) } catch {
            throw PlaneProtocolError(.malformed, "receipt head: no signer recovers: \(error.reason)")
        }
    }

    /// The document as canonical JSON (sorted keys, no spaces).
    public func encoded() -> [UInt8] {
        let object: [String: Any] = [
            "type": Self.type, "count": "\(head.count)", "head": head.head.hex, "from": "\(head.from)",
            "previous": head.previous.hex, "signature": Hex.encode(signature.rsv), "receipts": receipts,
        ]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { [UInt8]($0) } ?? []
    }

    public static let type = "delong-receipt-head-v1"

    /// Parses a document (the shape of `encoded()`); nothing is verified yet.
    public init(document: [UInt8]) throws(PlaneProtocolError) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(document))) as? [String: Any],
            object["type"] as? String == Self.type,
            let count = (object["count"] as? String).flatMap({ UInt64($0) }),
            let from = (object["from"] as? String).flatMap({ UInt64($0) }), from <= count,
            let head = (object["head"] as? String).flatMap({ try? Hash32(hex: $0) }),
            let previous = (object["previous"] as? String).flatMap({ try? Hash32(hex: $0) }),
            let signature = (object["signature"] as? String).flatMap({ try? Signature(rsv: Hex.decode($0)) }),
            let receipts = object["receipts"] as? [String], UInt64(receipts.count) == count - from
        else {
            throw PlaneProtocolError(
                .malformed,
                "expected a \(Self.type) document: count, from, head, previous, signature and count - from receipts"
            )
        }
        self.init(
            head: ReceiptHead(count: count, head: head, from: from, previous: previous),
            signature: signature,
            receipts: receipts
        )
    }

    /// The covered receipts, checked as a chain that ends in the signed head: each line's hash is its
    /// receipt's signing hash under `domain`, sequences run `from..<count`, each `previous` is the hash before
    /// it (the first one's is not checked here: it is the previous head's), and the last hash is `head`.
    public func verifiedReceipts(_ domain: TokenDomain) throws(PlaneProtocolError) -> [SignedReceipt] {
        var out: [SignedReceipt] = []
        for (i, line) in receipts.enumerated() {
            let signed = try SignedReceipt(json: try? JSONSerialization.jsonObject(with: Data(line.utf8)))
            let sequence = head.from + UInt64(i)
            guard (try? signed.receipt.signingHash(domain)) == signed.hash else {
                throw PlaneProtocolError(.malformed, "receipt \(sequence): its hash is not the receipt's signing hash")
            }
            guard signed.receipt.sequence == sequence, out.last.map({ $0.hash == signed.receipt.previous }) ?? true
            else {
                throw PlaneProtocolError(
                    .malformed,
                    "receipt \(sequence): expected sequence \(sequence) after \(out.last?.hash.hex ?? "the previous head"), found \(signed.receipt.sequence) after \(signed.receipt.previous.hex)"
                )
            }
            out.append(signed)
        }
        if head.count > head.from, out.last?.hash != head.head {
            throw PlaneProtocolError(
                .malformed,
                "the covered receipts end in \(out.last?.hash.hex ?? "-"); the signed head is \(head.head.hex)"
            )
        }
        return out
    }
}
