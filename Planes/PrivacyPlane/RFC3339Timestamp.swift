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
        guard let instant = Self.parse(Array(s.utf8)) else {
            throw PrivacyPlaneError(
                .malformedTimestamp,
                "expected an RFC 3339 date-time such as 2021-09-30T16:25:24Z, found \"\(s.prefix(64))\""
            )
        }
        self.text = s
        self.sinceEpoch = instant
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
        self.text = Self.render(unixSeconds: unixSeconds, nanoseconds: nanoseconds)
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

    // MARK: Parsing

    private static func parse(_ b: [UInt8]) -> Duration? {
        var i = 0
        func digits(_ n: Int) -> Int64? {
            guard i + n <= b.count else { return nil }
            var v: Int64 = 0
            for k in i..<(i + n) {
                guard b[k] >= 0x30 && b[k] <= 0x39 else { return nil }
                v = v * 10 + Int64(b[k] - 0x30)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8, or alt: UInt8? = nil) -> Bool {
            guard i < b.count, b[i] == c || b[i] == alt else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2),
            expect(0x54, or: 0x74), let hour = digits(2), expect(0x3A), let minute = digits(2), expect(0x3A),
            let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month) else { return nil }
        guard hour <= 23, minute <= 59, second <= 59 || (second == 60 && minute == 59) else { return nil }
        var nanos: Int64 = 0
        if i < b.count && b[i] == 0x2E {
            i += 1
            let start = i
            while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
            guard i > start else { return nil }
            for k in 0..<9 { nanos = nanos * 10 + (start + k < i ? Int64(b[start + k] - 0x30) : 0) }
        }
        var offsetSeconds: Int64 = 0
        guard i < b.count else { return nil }
        if b[i] == 0x5A || b[i] == 0x7A {
            i += 1
        } else if b[i] == 0x2B || b[i] == 0x2D {
            let sign: Int64 = b[i] == 0x2B ? 1 : -1
            i += 1
            guard let oh = digits(2), expect(0x3A), let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return .seconds(seconds) + .nanoseconds(nanos)
    }

    private static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
    static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    private static func render(unixSeconds: Int64, nanoseconds: Int64) -> String {
        let days = unixSeconds >= 0 ? unixSeconds / 86_400 : (unixSeconds - 86_399) / 86_400
        let secondOfDay = unixSeconds - days * 86_400
        let (y, m, d) = civilFromDays(days)
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var out = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T"
        out += "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
        if nanoseconds != 0 {
            var fraction = pad(nanoseconds, 9)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            out += "." + fraction
        }
        return out + "Z"
    }
}
