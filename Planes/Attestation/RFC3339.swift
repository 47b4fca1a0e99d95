/// RFC 3339 date-times (`2025-06-19T10:16:03Z`, fractional seconds and ±hh:mm offsets allowed) as instants
/// since the Unix epoch, without Foundation's locale-dependent formatters: the one parser and renderer of
/// DeLong (collateral times here, SIWE timestamps through PrivacyPlane's `RFC3339Timestamp`).
public enum RFC3339 {
    /// How strictly to read.
    public enum Strictness: Sendable {
        /// RFC 3339 §5.6 exactly: "T"/"t" between date and time, second 60 only at minute 59 (a leap second,
        /// counted as such). SIWE messages are parsed this way.
        case strict
        /// Also a space between date and time (RFC 3339 §5.6's NOTE allows it; Intel's collateral uses "T"),
        /// and second 60 at any minute, read as 59.
        case lenient
    }

    /// Seconds since the Unix epoch (fraction dropped), or nil when `text` is not an RFC 3339 date-time
    /// (read leniently).
    public static func seconds(_ text: String) -> Int64? { parse(Array(text.utf8), .lenient)?.seconds }

    /// Whole seconds since the epoch (floor) and the nanoseconds of the fraction (digits beyond the ninth are
    /// dropped), or nil when `b` is not an RFC 3339 date-time under `strictness`.
    public static func parse(_ b: [UInt8], _ strictness: Strictness) -> (seconds: Int64, nanoseconds: Int64)? {
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
        func expect(_ c: UInt8, or alt: UInt8? = nil, or third: UInt8? = nil) -> Bool {
            guard i < b.count, b[i] == c || b[i] == alt || b[i] == third else { return false }
            i += 1
            return true
        }
        let space: UInt8? = strictness == .lenient ? 0x20 : nil
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2),
            expect(0x54, or: 0x74, or: space), let hour = digits(2), expect(0x3A), let minute = digits(2),
            expect(0x3A), var second = digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month) else { return nil }
        guard hour <= 23, minute <= 59 else { return nil }
        switch strictness {
        case .strict: guard second <= 59 || (second == 60 && minute == 59) else { return nil }
        case .lenient:
            guard second <= 60 else { return nil }
            second = min(second, 59)
        }
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
        return (days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds, nanos)
    }

    /// `seconds` (+ `nanoseconds`) since the epoch as `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the fraction without
    /// trailing zeros and left out when zero.
    public static func format(_ seconds: Int64, nanoseconds: Int64 = 0) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
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

    static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
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
}
