import Attestation

/// An RFC 3339 `date-time` ("2021-09-30T16:25:24.000Z", "2021-09-30T16:25:24-02:00") and the instant it names.
///
/// The original text is kept, so a parsed SIWE message serialises back to the identical bytes; equality and
/// order are by instant. Fractions beyond nanoseconds are kept in the text and truncated in the instant.
/// Parsing is strict: calendar dates must exist (no 31 February), hours 00–23, minutes 00–59, seconds 00–59
/// (60 only at minute 59, a leap second), offsets −23:59…+23:59. "T" and "Z" may be lower case, as RFC 3339
/// §5.6 allows; nothing else (no space separator, no missing offset, no ISO 8601 week or ordinal forms).
public struct RFC3339Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The text as parsed or rendered.
    public let text: String
    /// The instant, as a duration since 1970-01-01T00:00:00Z (negative before it).
    public let sinceEpoch: Duration

    /// Whole seconds since the Unix epoch (rounded towards minus infinity).
    public var unixSeconds: Int64 { Self.split(sinceEpoch).seconds }

    /// Parses an RFC 3339 `date-time`.
    public init(parsing text: some StringProtocol) throws(PrivacyPlaneError) {
        let s = String(text)
        guard let (seconds, nanoseconds) = RFC3339.parse(Array(s.utf8), .strict) else {
            throw PrivacyPlaneError(
                .malformedTimestamp,
                "expected an RFC 3339 date-time such as 2021-09-30T16:25:24Z, found \"\(s.prefix(64))\""
            )
        }
        self.text = s
        self.sinceEpoch = .seconds(seconds) + .nanoseconds(nanoseconds)
    }

    /// The instant `unixSeconds` + `nanoseconds` after the epoch, rendered in UTC ("…Z").
    ///
    /// - Precondition: the instant lies in years 0000–9999, the range RFC 3339 can write.
    public init(unixSeconds: Int64, nanoseconds: Int64 = 0) {
        precondition((0..<1_000_000_000).contains(nanoseconds), "nanoseconds must be in 0..<1e9")
        precondition(
            (Self.minUnixSeconds...Self.maxUnixSeconds).contains(unixSeconds),
            "timestamp outside the years 0000–9999"
        )
        self.sinceEpoch = .seconds(unixSeconds) + .nanoseconds(nanoseconds)
        self.text = RFC3339.format(unixSeconds, nanoseconds: nanoseconds)
    }

    /// The same instant moved by `duration`, rendered in UTC; `nil` outside the years 0000–9999.
    public func adding(_ duration: Duration) -> RFC3339Timestamp? {
        let (seconds, nanoseconds) = Self.split(sinceEpoch + duration)
        guard (Self.minUnixSeconds...Self.maxUnixSeconds).contains(seconds) else { return nil }
        return RFC3339Timestamp(unixSeconds: seconds, nanoseconds: nanoseconds)
    }

    /// Whole seconds (floor) and the non-negative nanoseconds left over.
    static func split(_ d: Duration) -> (seconds: Int64, nanoseconds: Int64) {
        var (seconds, attoseconds) = d.components
        if attoseconds < 0 {
            seconds -= 1
            attoseconds += 1_000_000_000_000_000_000
        }
        return (seconds, attoseconds / 1_000_000_000)
    }

    public var description: String { text }

    public static func == (a: RFC3339Timestamp, b: RFC3339Timestamp) -> Bool { a.sinceEpoch == b.sinceEpoch }
    public static func < (a: RFC3339Timestamp, b: RFC3339Timestamp) -> Bool { a.sinceEpoch < b.sinceEpoch }
    public func hash(into hasher: inout Hasher) { hasher.combine(sinceEpoch) }

    static let minUnixSeconds: Int64 = -62_167_219_200  // 0000-01-01T00:00:00Z
    static let maxUnixSeconds: Int64 = 253_402_300_799  // 9999-12-31T23:59:59Z
}
