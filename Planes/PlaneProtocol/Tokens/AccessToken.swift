public import ChainCore

/// An authorization the Privacy Plane grants: EIP-712 typed data signed by the plane's secp256k1 key, whose
/// address is on chain (AlgorithmRegistry's privacy signer). Anyone can check one with `ecrecover`; the
/// Computing Plane does before it asks for a key.
///
///     DeLongAccess(address consumer,bytes32 dataset,bytes32 rental,uint8 mode,bytes32 imageDigest,
///                  bytes32 jobId,address audience,uint64 notBefore,uint64 expiry,bytes32 nonce)
public struct AccessToken: Hashable, Sendable {
    /// Explore Mode (desensitized samples) or Secure Mode (a job on the full data).
    public enum Mode: UInt8, Sendable {
        case explore = 0
        case secure = 1

        /// "explore" or "secure", as the HTTP API and token JSON spell it.
        public var name: String { self == .secure ? "secure" : "explore" }

        /// The mode named `name`, or a `malformed` error naming `field`.
        public init(name: String, field: String) throws(PlaneProtocolError) {
            switch name {
            case "secure": self = .secure
            case "explore": self = .explore
            default: throw PlaneProtocolError(.malformed, "\(field): expected secure or explore, found \(name)")
            }
        }
    }

    public var consumer: Address
    public var dataset: Hash32
    /// keccak256(dataset ‖ consumer): the rental the token rests on.
    public var rental: Hash32
    public var mode: Mode
    /// The algorithm's image digest (zero for explore tokens).
    public var imageDigest: Hash32
    /// The job this token is for (zero for explore tokens).
    public var jobID: Hash32
    /// The Computing Plane the token is for: its operator address, authorized in AlgorithmRegistry (zero for
    /// explore tokens). A plane refuses a token whose audience is not its own operator.
    public var audience: Address
    /// Unix seconds: valid from `notBefore` (inclusive) to `expiry` (exclusive).
    public var notBefore: UInt64
    public var expiry: UInt64
    /// Random, so two tokens never collide and each can be used once.
    public var nonce: Hash32

    public init(
        consumer: Address,
        dataset: Hash32,
        mode: Mode,
        imageDigest: Hash32,
        jobID: Hash32,
        audience: Address,
        notBefore: UInt64,
        expiry: UInt64,
        nonce: Hash32
    ) {
        self.consumer = consumer
        self.dataset = dataset
        self.rental = Self.rentalID(dataset: dataset, consumer: consumer)
        self.mode = mode
        self.imageDigest = imageDigest
        self.jobID = jobID
        self.audience = audience
        self.notBefore = notBefore
        self.expiry = expiry
        self.nonce = nonce
    }

    /// keccak256(dataset ‖ consumer).
    public static func rentalID(dataset: Hash32, consumer: Address) -> Hash32 {
        Keccak256.hash(dataset.bytes + consumer.bytes)
    }

    static let members: [TypedData.Member] = [
        .init(name: "consumer", type: "address"), .init(name: "dataset", type: "bytes32"),
        .init(name: "rental", type: "bytes32"),
        .init(name: "mode", type: "uint8"), .init(name: "imageDigest", type: "bytes32"),
        .init(name: "jobId", type: "bytes32"), .init(name: "audience", type: "address"),
        .init(name: "notBefore", type: "uint64"), .init(name: "expiry", type: "uint64"),
        .init(name: "nonce", type: "bytes32"),
    ]

    /// The token as EIP-712 typed data under `domain`.
    public func typedData(_ domain: TokenDomain) -> TypedData {
        TypedData(
            types: ["DeLongAccess": Self.members],
            primaryType: "DeLongAccess",
            domain: domain.json,
            message: [
                "consumer": consumer.hex, "dataset": dataset.hex, "rental": rental.hex, "mode": Int(mode.rawValue),
                "imageDigest": imageDigest.hex, "jobId": jobID.hex, "audience": audience.hex,
                "notBefore": "\(notBefore)", "expiry": "\(expiry)", "nonce": nonce.hex,
            ]
        )
    }

    static let staticType = StaticTypedData("DeLongAccess", members)

    /// The digest the Privacy Plane signs (EIP-712; equal to `typedData(domain).signingHash()`).
    public func signingHash(_ domain: TokenDomain) throws(ChainError) -> Hash32 {
        let W = StaticTypedData.self
        var words = W.word(consumer) + dataset.bytes + rental.bytes + W.word(UInt64(mode.rawValue))
        words += imageDigest.bytes + jobID.bytes + W.word(audience) + W.word(notBefore) + W.word(expiry) + nonce.bytes
        return Self.staticType.signingHash(domainSeparator: domain.separator, words: words)
    }
}

/// The EIP-712 domain of DeLong's tokens: bound to one chain and one AlgorithmRegistry.
public struct TokenDomain: Hashable, Sendable {
    public static let name = "DeLong Privacy Plane"
    public static let version = "1"
    public var chainID: UInt64
    public var verifyingContract: Address

    /// The EIP-712 domain separator, computed once.
    public let separator: Hash32

    public init(chainID: UInt64, verifyingContract: Address) {
        self.chainID = chainID
        self.verifyingContract = verifyingContract
        let domainType = Keccak256.hash(
            utf8: "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
        )
        separator = Keccak256.hash(
            domainType.bytes + Keccak256.hash(utf8: Self.name).bytes + Keccak256.hash(utf8: Self.version).bytes
                + StaticTypedData.word(chainID) + StaticTypedData.word(verifyingContract)
        )
    }

    var json: [String: Any] {
        [
            "name": Self.name, "version": Self.version, "chainId": "\(chainID)",
            "verifyingContract": verifyingContract.hex,
        ]
    }
}

/// A token with the Privacy Plane's signature.
public struct SignedAccessToken: Hashable, Sendable {
    public var token: AccessToken
    public var signature: Signature

    /// Signs `token` under `domain` with the plane's key.
    public init(signing token: AccessToken, domain: TokenDomain, privateKey: [UInt8]) throws(ChainError) {
        self.token = token
        self.signature = try Secp256k1.shared.sign(token.signingHash(domain), privateKey: privateKey)
    }

    public init(token: AccessToken, signature: Signature) {
        self.token = token
        self.signature = signature
    }
}

/// Why a token was refused.
public enum TokenRejection: Hashable, Sendable, CustomStringConvertible {
    case wrongSigner(expected: Address, found: Address)
    case notYetValid(notBefore: UInt64, now: UInt64)
    case expired(expiry: UInt64, now: UInt64)
    case malformed(String)

    public var description: String {
        switch self {
        case .wrongSigner(let e, let f):
            return "signed by \(f.checksummed), expected the Privacy Plane signer \(e.checksummed)"
        case .notYetValid(let nb, let now): return "not valid before \(nb) (now \(now))"
        case .expired(let exp, let now): return "expired at \(exp) (now \(now))"
        case .malformed(let reason): return reason
        }
    }
}

/// The outcome of checking a token.
public enum TokenVerdict: Hashable, Sendable {
    case verified(VerifiedAccessToken)
    case rejected(TokenRejection)
}

/// A token whose signature and validity window checked out. Only `TokenVerifier` makes one.
public struct VerifiedAccessToken: Hashable, Sendable {
    public let token: AccessToken
    /// The EIP-712 digest the signature was checked over (what receipts and REPORTDATA name).
    public let signingHash: Hash32
    fileprivate init(unchecked token: AccessToken, signingHash: Hash32) {
        self.token = token
        self.signingHash = signingHash
    }
}

/// Checks tokens against the on-chain Privacy Plane signer and a clock reading passed in.
public struct TokenVerifier: Sendable {
    public var domain: TokenDomain
    /// The signer address from the verified index (AlgorithmRegistry's PrivacySignerSet).
    public var signer: Address

    public init(domain: TokenDomain, signer: Address) {
        self.domain = domain
        self.signer = signer
    }

    public func verify(_ signed: SignedAccessToken, now: UInt64) -> TokenVerdict {
        let token = signed.token
        guard token.rental == AccessToken.rentalID(dataset: token.dataset, consumer: token.consumer) else {
            return .rejected(.malformed("rental id does not match dataset and consumer"))
        }
        guard token.notBefore < token.expiry else { return .rejected(.malformed("empty validity window")) }
        let hash: Hash32
        let recovered: Address
        do {
            hash = try token.signingHash(domain)
            recovered = try Secp256k1.shared.recoverAddress(hash, signed.signature)
        } catch {
            return .rejected(.malformed(error.reason))
        }
        guard recovered == signer else { return .rejected(.wrongSigner(expected: signer, found: recovered)) }
        guard now >= token.notBefore else { return .rejected(.notYetValid(notBefore: token.notBefore, now: now)) }
        guard now < token.expiry else { return .rejected(.expired(expiry: token.expiry, now: now)) }
        return .verified(VerifiedAccessToken(unchecked: token, signingHash: hash))
    }
}
