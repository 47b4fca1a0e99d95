// Cell text as pandas' DataFrame.to_csv writes the frame pandas reads from the same file, so a Parquet table and
// its CSV twin give the same cells: integers in decimal, booleans True/False, floats as Python's repr (shortest
// round trip; exponent form below 1e-4 and from 1e16), NaN and nulls empty, dates yyyy-mm-dd, decimals as
// Python's str(Decimal), timestamps `yyyy-mm-dd hh:mm:ss[.fff|.ffffff|.fffffffff]` with one precision per
// column (the finest any value needs) or the date alone when every value is midnight, and tz-aware (UTC)
// timestamps with their own precision and `+00:00`.

enum CellText {
    /// Python's repr of a double and numpy's str of a float32 (what pandas writes for each): Swift's shortest
    /// round-trip digits (of the float's own width), laid out in fixed form with at least one fraction digit,
    /// or in exponent form (1e-05, 1.5e+16) — for a double when the decimal point position is at most -4 or
    /// above 16 (Python's rule), for a float32 when its magnitude is below 1e-4 or at least 1e6 (numpy's).
    static func python<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F) -> String {
        if value.isNaN { return "" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        var text = value.description
        return text.withUTF8 { source in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { scratch in
                let zero = UInt8(ascii: "0")
                // Digits (without the point) in scratch[64...], the output in scratch[0..<64].
                var digitCount = 0
                var point = -1
                var exponent = 0
                var exponentNegative = false
                var negative = false
                var i = 0
                if i < source.count, source[i] == UInt8(ascii: "-") {
                    negative = true
                    i += 1
                }
                while i < source.count {
                    let b = source[i]
                    if b == UInt8(ascii: ".") {
                        point = digitCount
                    } else if b == UInt8(ascii: "e") || b == UInt8(ascii: "E") {
                        i += 1
                        if i < source.count, source[i] == UInt8(ascii: "+") || source[i] == UInt8(ascii: "-") {
                            exponentNegative = source[i] == UInt8(ascii: "-")
                            i += 1
                        }
                        while i < source.count, exponent < 10_000 {
                            exponent = exponent * 10 + Int(source[i] &- zero)
                            i += 1
                        }
                        break
                    } else if digitCount < 63 {
                        scratch[64 + digitCount] = b
                        digitCount += 1
                    }
                    i += 1
                }
                if point < 0 { point = digitCount }
                // value = 0.d1d2… × 10^decpt
                var decpt = point + (exponentNegative ? -exponent : exponent)
                var first = 0
                while first < digitCount - 1, scratch[64 + first] == zero {
                    first += 1
                    decpt -= 1
                }
                var last = digitCount
                while last > first + 1, scratch[64 + last - 1] == zero { last -= 1 }
                let count = last - first
                var o = 0
                if negative {
                    scratch[o] = UInt8(ascii: "-")
                    o += 1
                }
                let fixed: Bool
                if F.self == Float.self {
                    let magnitude = Double(value.magnitude)
                    fixed = magnitude >= 1e-4 && magnitude < 1e6
                } else {
                    fixed = decpt > -4 && decpt <= 16
                }
                if fixed {
                    if decpt <= 0 {
                        scratch[o] = zero
                        scratch[o + 1] = UInt8(ascii: ".")
                        o += 2
                        for _ in 0 ..< -decpt {
                            scratch[o] = zero
                            o += 1
                        }
                        for k in 0..<count { scratch[o + k] = scratch[64 + first + k] }
                        o += count
                    } else if decpt >= count {
                        for k in 0..<count { scratch[o + k] = scratch[64 + first + k] }
                        o += count
                        for _ in 0..<(decpt - count) {
                            scratch[o] = zero
                            o += 1
                        }
                        scratch[o] = UInt8(ascii: ".")
                        scratch[o + 1] = zero
                        o += 2
                    } else {
                        for k in 0..<decpt { scratch[o + k] = scratch[64 + first + k] }
                        o += decpt
                        scratch[o] = UInt8(ascii: ".")
                        o += 1
                        for k in decpt..<count { scratch[o + k - decpt] = scratch[64 + first + k] }
                        o += count - decpt
                    }
                } else {
                    scratch[o] = scratch[64 + first]
                    o += 1
                    if count > 1 {
                        scratch[o] = UInt8(ascii: ".")
                        o += 1
                        for k in 1..<count { scratch[o + k - 1] = scratch[64 + first + k] }
                        o += count - 1
                    }
                    let e = decpt - 1
                    scratch[o] = UInt8(ascii: "e")
                    scratch[o + 1] = e < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+")
                    o += 2
                    let magnitude = abs(e)
                    if magnitude >= 100 {
                        scratch[o] = zero + UInt8(magnitude / 100)
                        o += 1
                    }
                    scratch[o] = zero + UInt8(magnitude / 10 % 10)
                    scratch[o + 1] = zero + UInt8(magnitude % 10)
                    o += 2
                }
                return String(decoding: UnsafeBufferPointer(rebasing: scratch[0..<o]), as: UTF8.self)
            }
        }
    }

    /// Python's str(Decimal) of unscaled × 10^-scale.
    static func decimal(_ unscaled: Int128, scale: Int) -> String {
        let negative = unscaled < 0
        let digits = Array(String(unscaled.magnitude).utf8)
        let exp = -scale
        let leftDigits = exp + digits.count
        let dotPlace = exp <= 0 && leftDigits > -6 ? leftDigits : 1
        var out: [UInt8] = negative ? [UInt8(ascii: "-")] : []
        if dotPlace <= 0 {
            out += Array("0.".utf8) + [UInt8](repeating: UInt8(ascii: "0"), count: -dotPlace) + digits
        } else if dotPlace >= digits.count {
            out += digits + [UInt8](repeating: UInt8(ascii: "0"), count: dotPlace - digits.count)
        } else {
            out += digits[0..<dotPlace] + [UInt8(ascii: ".")] + digits[dotPlace...]
        }
        if leftDigits != dotPlace {
            let e = leftDigits - dotPlace
            out += Array("E\(e < 0 ? "-" : "+")\(abs(e))".utf8)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A big-endian two's complement integer of 1…16 bytes.
    static func int128(bigEndian bytes: UnsafeBufferPointer<UInt8>) -> Int128 {
        guard let first = bytes.first else { return 0 }
        var value: Int128 = first & 0x80 != 0 ? -1 : 0
        for b in bytes { value = value << 8 | Int128(b) }
        return value
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    /// yyyy-mm-dd of a day number (days since 1970-01-01; Howard Hinnant's civil_from_days).
    static func date(days: Int64) -> String {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return pad(Int(year), 4) + "-" + pad(Int(month), 2) + "-" + pad(Int(day), 2)
    }

    /// Nanoseconds per unit (1 ms, 2 µs, 3 ns).
    static func nanosPer(unit: Int) -> Int64 {
        switch unit {
        case 1: 1_000_000
        case 2: 1000
        default: 1
        }
    }

    /// Splits a count of `unit` since the epoch into days and nanoseconds of the day (floor division).
    static func split(_ value: Int64, unit: Int) -> (days: Int64, nanos: Int64) {
        let perDay = 86_400 * (1_000_000_000 / nanosPer(unit: unit))
        var days = value / perDay
        var rest = value % perDay
        if rest < 0 {
            rest += perDay
            days -= 1
        }
        return (days, rest * nanosPer(unit: unit))
    }

    /// hh:mm:ss and, by `digits` (0, 3, 6, 9), the fraction of a second.
    static func clock(nanos: Int64, digits: Int) -> String {
        let seconds = nanos / 1_000_000_000
        let fraction = nanos % 1_000_000_000
        var text = pad(Int(seconds / 3600), 2) + ":" + pad(Int(seconds / 60 % 60), 2) + ":" + pad(Int(seconds % 60), 2)
        switch digits {
        case 3: text += "." + pad(Int(fraction / 1_000_000), 3)
        case 6: text += "." + pad(Int(fraction / 1000), 6)
        case 9: text += "." + pad(Int(fraction), 9)
        default: break
        }
        return text
    }

    /// The fraction digits one value needs: 9 for nanoseconds, 6 for microseconds, 3 for milliseconds, else 0.
    static func fractionDigits(nanos: Int64) -> Int {
        if nanos % 1000 != 0 { return 9 }
        if nanos % 1_000_000 != 0 { return 6 }
        if nanos % 1_000_000_000 != 0 { return 3 }
        return 0
    }

    /// A whole timestamp column, as pandas formats it (`nulls[i]` cells are empty).
    static func timestamps(_ raw: [Int64], nulls: [Bool], unit: Int, utc: Bool) -> [String] {
        var out: [String] = []
        out.reserveCapacity(raw.count)
        if utc {
            for (i, v) in raw.enumerated() {
                if nulls[i] {
                    out.append("")
                    continue
                }
                let (days, nanos) = split(v, unit: unit)
                // str(Timestamp): microseconds when any, nanoseconds when any.
                let digits = nanos % 1000 != 0 ? 9 : (nanos % 1_000_000_000 != 0 ? 6 : 0)
                out.append(date(days: days) + " " + clock(nanos: nanos, digits: digits) + "+00:00")
            }
            return out
        }
        var datesOnly = true
        var digits = 0
        for (i, v) in raw.enumerated() where !nulls[i] {
            let nanos = split(v, unit: unit).nanos
            if nanos != 0 { datesOnly = false }
            digits = max(digits, fractionDigits(nanos: nanos))
        }
        for (i, v) in raw.enumerated() {
            if nulls[i] {
                out.append("")
                continue
            }
            let (days, nanos) = split(v, unit: unit)
            out.append(datesOnly ? date(days: days) : date(days: days) + " " + clock(nanos: nanos, digits: digits))
        }
        return out
    }

    /// str(datetime.time): hh:mm:ss, then .ffffff when there are microseconds (nanoseconds: 9 digits).
    static func time(_ value: Int64, unit: Int) -> String {
        let (_, nanos) = split(value, unit: unit)
        let digits = nanos % 1000 != 0 ? 9 : (nanos % 1_000_000_000 != 0 ? 6 : 0)
        return clock(nanos: nanos, digits: digits)
    }

    static let hex = Array("0123456789abcdef".utf8)

    /// 8-4-4-4-12 lowercase hex of 16 bytes.
    static func uuid(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
