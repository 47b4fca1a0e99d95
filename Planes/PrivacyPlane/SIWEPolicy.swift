/// What a sign-in message must be bound to for `SIWEVerifier` to accept it.
///
/// Time is never read here or in the verifier: `now` is a parameter of every check.
public struct SIWEPolicy: Sendable {
    /// How far apart the verifier's and the wallet's clocks may be; larger skews are refused at init.
    public static let maxClockSkew: Duration = .seconds(300)

    /// Which `URI:` values are acceptable.
    public enum URIRule: Sendable, Hashable {
        /// Any URI (the domain binding still applies).
        case any
        /// The URI's scheme and authority must be exactly this origin ("https://login.example"); the scheme
        /// compares case-insensitively, the authority exactly.
        case origin(String)
        /// The URI must start with this prefix, which ends at a path boundary ("https://a.example/app" matches
        /// "https://a.example/app/x" and "https://a.example/app?x", not "https://a.example/apple").
        case prefix(String)
    }

    /// The domain (RFC 3986 authority) the message must name, compared exactly; `nil` skips the domain and
    /// scheme binding, which only offline inspection (`delong auth verify-siwe` without `--domain`) may do.
    public var domain: String?
    /// The scheme the message must name; a message without one means "https" (EIP-4361). Checked only with
    /// `domain`.
    public var scheme: String
    /// Which URIs are acceptable.
    public var uri: URIRule
    /// The accepted chain ids; `nil` accepts any.
    public var chainIDs: Set<UInt64>?
    /// The tolerated clock difference, applied to Expiration Time, Not Before and Issued At.
    public let clockSkew: Duration
    /// Refuse messages whose Issued At lies further in the future than `clockSkew`. The spruceid/siwe
    /// reference does not check Issued At (one of its vectors verifies at a time before it), so this can be
    /// turned off to reproduce it; the node keeps it on.
    public var rejectsFutureIssuedAt: Bool
    /// When set, refuse messages issued longer ago than this (plus `clockSkew`).
    public var maxAge: Duration?

    /// A policy; throws when `clockSkew` is negative or above `maxClockSkew`.
    public init(
        domain: String?,
        scheme: String = "https",
        uri: URIRule = .any,
        chainIDs: Set<UInt64>? = nil,
        clockSkew: Duration = .seconds(60),
        rejectsFutureIssuedAt: Bool = true,
        maxAge: Duration? = nil
    ) throws(PrivacyPlaneError) {
        guard clockSkew >= .zero, clockSkew <= Self.maxClockSkew else {
            throw PrivacyPlaneError(
                .invalidConfiguration,
                "clock skew must be between 0 and \(Self.maxClockSkew), found \(clockSkew)"
            )
        }
        if let maxAge, maxAge <= .zero {
            throw PrivacyPlaneError(.invalidConfiguration, "maximum message age must be positive, found \(maxAge)")
        }
        self.domain = domain
        self.scheme = scheme
        self.uri = uri
        self.chainIDs = chainIDs
        self.clockSkew = clockSkew
        self.rejectsFutureIssuedAt = rejectsFutureIssuedAt
        self.maxAge = maxAge
    }
}
