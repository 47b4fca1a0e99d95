public import ChainCore

/// An EIP-4361 (Sign-In with Ethereum) message whose every field follows the EIP's ABNF.
///
/// Build one by parsing the exact text a wallet signed (`init(parsing:)`) or from fields (`init(domain:…)`);
/// both check the same grammar, and `text` serialises the fields back to the identical message, so what is
/// verified is exactly what was signed. Nothing here says the message is authentic or current: that is
/// `SIWEVerifier`'s job, and only it builds a `VerifiedSIWE`.
///
/// Deviations from the bare ABNF, all stricter: the address must carry its EIP-55 checksum (the EIP requires
/// it; the ABNF cannot say so), the domain's host may not be empty, the chain id has no leading zeros and fits
/// 64 bits, and a message is at most `maxBytes` long.
public struct SIWEMessage: Hashable, Sendable, CustomStringConvertible {
    /// Longer messages are refused before parsing (real ones are a few hundred bytes).
    public static let maxBytes = 16 * 1024
    /// The only version EIP-4361 defines.
    public static let version = "1"
    /// The fixed text after the domain on the first line.
    static let preamble = " wants you to sign in with your Ethereum account:"

    /// The URI scheme written before the domain ("https"), when the message names one.
    public let scheme: String?
    /// The RFC 3986 authority requesting the sign-in ("example.com", "localhost:8080").
    public let domain: String
    /// The account signing in.
    public let address: Address
    /// The human-readable assertion, when present (no line breaks).
    public let statement: String?
    /// The RFC 3986 URI of the resource the sign-in is for.
    public let uri: String
    /// The EIP-155 chain id the session is bound to.
    public let chainID: UInt64
    /// The server-issued nonce (at least 8 letters or digits) that makes the message single-use.
    public let nonce: String
    /// When the message was made.
    public let issuedAt: RFC3339Timestamp
    /// After this instant the message is no longer valid.
    public let expirationTime: RFC3339Timestamp?
    /// Before this instant the message is not yet valid.
    public let notBefore: RFC3339Timestamp?
    /// A system-specific request identifier (RFC 3986 pchars), when present.
    public let requestID: String?
    /// Resource URIs the user asks to be resolved; `nil` when the message has no "Resources:" line.
    public let resources: [String]?

    /// A message from fields, checked against the same grammar as parsed text.
    public init(
        scheme: String? = nil,
        domain: String,
        address: Address,
        statement: String? = nil,
        uri: String,
        chainID: UInt64,
        nonce: String,
        issuedAt: RFC3339Timestamp,
        expirationTime: RFC3339Timestamp? = nil,
        notBefore: RFC3339Timestamp? = nil,
        requestID: String? = nil,
        resources: [String]? = nil
    ) throws(PrivacyPlaneError) {
        func check(_ field: String, _ problem: String?) throws(PrivacyPlaneError) {
            if let problem { throw PrivacyPlaneError(.malformedMessage, "\(field): \(problem)") }
        }
        if let scheme { try check("scheme", Self.schemeProblem(scheme)) }
        try check("domain", Self.domainProblem(domain))
        if let statement { try check("statement", Self.statementProblem(statement)) }
        try check("URI", Self.uriProblem(uri))
        try check("Nonce", Self.nonceProblem(nonce))
        if let requestID { try check("Request ID", Self.requestIDProblem(requestID)) }
        for (i, resource) in (resources ?? []).enumerated() {
            try check("resource \(i + 1)", Self.uriProblem(resource))
        }
        self.scheme = scheme
        self.domain = domain
        self.address = address
        self.statement = statement
        self.uri = uri
        self.chainID = chainID
        self.nonce = nonce
        self.issuedAt = issuedAt
        self.expirationTime = expirationTime
        self.notBefore = notBefore
        self.requestID = requestID
        self.resources = resources
        let size = text.utf8.count
        guard size <= Self.maxBytes else {
            throw PrivacyPlaneError(
                .malformedMessage,
                "the message would be \(size) bytes; at most \(Self.maxBytes) are accepted"
            )
        }
    }

    /// The message text, exactly as EIP-4361 lays it out (LF line ends, no trailing line break).
    public var text: String {
        var s = (scheme.map { "\($0)://" } ?? "") + domain + Self.preamble + "\n"
        s += address.checksummed + "\n\n"
        if let statement { s += statement + "\n" }
        s += "\nURI: \(uri)\nVersion: \(Self.version)\nChain ID: \(chainID)\nNonce: \(nonce)"
        s += "\nIssued At: \(issuedAt.text)"
        if let expirationTime { s += "\nExpiration Time: \(expirationTime.text)" }
        if let notBefore { s += "\nNot Before: \(notBefore.text)" }
        if let requestID { s += "\nRequest ID: \(requestID)" }
        if let resources {
            s += "\nResources:"
            for resource in resources { s += "\n- \(resource)" }
        }
        return s
    }

    /// The bytes a wallet signs (EIP-191 `personal_sign` of the UTF-8 text).
    public var bytes: [UInt8] { Array(text.utf8) }

    /// The EIP-191 digest the signature is over.
    public var signingHash: Hash32 { PersonalMessage.hash(bytes) }

    public var description: String { text }

    /// Equal when the texts are (timestamps compare by their text here, not only by instant).
    public static func == (a: SIWEMessage, b: SIWEMessage) -> Bool { a.text == b.text }
    public func hash(into hasher: inout Hasher) { hasher.combine(text) }
}

// MARK: Field grammar (shared by parsing and the field initialiser; each returns what is wrong, or nil)

extension SIWEMessage {
    static func quoted(_ s: some StringProtocol) -> String {
        s.count > 80 ? "\"\(s.prefix(80))…\"" : "\"\(s)\""
    }

    static func schemeProblem(_ s: String) -> String? {
        URIGrammar.isScheme(Array(s.utf8)[...]) ? nil : "expected an RFC 3986 scheme, found \(quoted(s))"
    }

    static func domainProblem(_ s: String) -> String? {
        URIGrammar.isAuthority(Array(s.utf8)[...], requireHost: true)
            ? nil : "expected an RFC 3986 authority ([userinfo@]host[:port]) with a host, found \(quoted(s))"
    }

    static func statementProblem(_ s: String) -> String? {
        let ok = s.utf8.allSatisfy { URIGrammar.isReserved($0) || URIGrammar.isUnreserved($0) || $0 == 0x20 }
        return ok
            ? nil
            : "expected RFC 3986 reserved or unreserved characters and spaces only (no line breaks), found \(quoted(s))"
    }

    static func uriProblem(_ s: String) -> String? {
        URIGrammar.isURI(Array(s.utf8)[...]) ? nil : "expected an RFC 3986 URI, found \(quoted(s))"
    }

    static func nonceProblem(_ s: String) -> String? {
        let ok = s.utf8.count >= 8 && s.utf8.allSatisfy { URIGrammar.isAlpha($0) || URIGrammar.isDigit($0) }
        return ok ? nil : "expected at least 8 letters or digits, found \(quoted(s))"
    }

    static func requestIDProblem(_ s: String) -> String? {
        URIGrammar.isPcharRun(Array(s.utf8)[...]) ? nil : "expected RFC 3986 pchars only, found \(quoted(s))"
    }
}
