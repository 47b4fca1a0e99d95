public import ChainCore

/// The EIP-712 domain of the Computing Plane's signed job records (requests, review decisions, results):
/// bound to one chain and one AlgorithmRegistry, and distinct from the Privacy Plane's token domain, so a
/// signature made for one can never be replayed as the other.
public struct JobDomain: Hashable, Sendable {
    public static let name = "DeLong Computing Plane"
    public static let version = "1"
    public let chainID: UInt64
    /// The AlgorithmRegistry.
    public let verifyingContract: Address

    /// The EIP-712 domain separator, computed once.
    public let separator: Hash32

    public init(chainID: UInt64, verifyingContract: Address) {
        self.chainID = chainID
        self.verifyingContract = verifyingContract
        separator = EIP712Domain.separator(
            name: Self.name,
            version: Self.version,
            chainID: chainID,
            verifyingContract: verifyingContract
        )
    }

    var json: [String: Any] {
        EIP712Domain.json(
            name: Self.name,
            version: Self.version,
            chainID: chainID,
            verifyingContract: verifyingContract
        )
    }
}

/// Signing and recovering over a job domain (the three signed records share it).
enum JobSignature {
    static func sign(_ hash: Hash32, privateKey: [UInt8], what: String) throws(PlaneProtocolError) -> Signature {
        do { return try Secp256k1.shared.sign(hash, privateKey: privateKey) } catch {
            throw PlaneProtocolError(.malformed, "\(what): cannot sign: \(error.reason)")
        }
    }

    static func recover(_ hash: Hash32, _ signature: Signature, what: String) throws(PlaneProtocolError) -> Address {
        do { return try Secp256k1.shared.recoverAddress(hash, signature) } catch {
            throw PlaneProtocolError(.malformed, "\(what).signature: no signer recovers: \(error.reason)")
        }
    }
}
