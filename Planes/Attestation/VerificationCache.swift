internal import PlaneCrypto
internal import Synchronization

/// Per-quote work whose result depends only on the (already verified) collateral and on bytes in the quote:
/// PCK chains that verified to the collateral's PCK CA and are not on its CRL, and parsed attestation keys.
///
/// Quotes from one platform repeat both, so a warm cache turns the per-quote cost into two ECDSA verifications.
/// What depends on the evaluation time (the PCK certificate's validity) is still checked for every quote.
/// Each map is bounded and simply emptied when full. Shared by all copies of one ``VerifiedCollateral``.
final class VerificationCache: Sendable {
    struct PCKEntry: Sendable {
        let leaf: X509Certificate
        let extensions: PCKExtensions
    }

    static let limit = 4096
    private let chains = Mutex<[[UInt8]: PCKEntry]>([:])
    private let keys = Mutex<[[UInt8]: P256PublicKey]>([:])

    func pck(_ pem: [UInt8]) -> PCKEntry? { chains.withLock { $0[pem] } }

    func store(_ entry: PCKEntry, for pem: [UInt8]) {
        chains.withLock {
            if $0.count >= Self.limit { $0.removeAll(keepingCapacity: true) }
            $0[pem] = entry
        }
    }

    func key(_ bytes: [UInt8]) -> P256PublicKey? { keys.withLock { $0[bytes] } }

    func store(_ key: P256PublicKey, for bytes: [UInt8]) {
        keys.withLock {
            if $0.count >= Self.limit { $0.removeAll(keepingCapacity: true) }
            $0[bytes] = key
        }
    }
}
