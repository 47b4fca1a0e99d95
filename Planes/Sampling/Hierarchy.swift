/// The generalization ladder of one quasi-identifier column, chosen from its values: dates (day → month →
/// year → 5 years → 10 years), numbers without leading zeros (bands of growing width), text (shorter and shorter prefixes, the rest
/// masked as `*`); the last level drops the column. Empty cells stay empty at every level.
struct Hierarchy {
    enum Kind {
        case date
        case numeric(widths: [Double], integral: Bool)
        case text(prefixes: [Int])
    }

    let values: [String]
    let kind: Kind

    init(values: [String]) {
        self.values = values
        let present = values.filter { !$0.isEmpty }
        if !present.isEmpty, present.allSatisfy({ CivilDate(Substring($0)) != nil }) {
            kind = .date
        } else if !present.isEmpty, let numbers = Optional(present.compactMap(Double.init)),
            numbers.count == present.count, numbers.allSatisfy(\.isFinite),
            !present.contains(where: Hierarchy.hasLeadingZero)
        {
            let range = (numbers.max() ?? 0) - (numbers.min() ?? 0)
            let integral = numbers.allSatisfy { $0.rounded() == $0 }
            var widths: [Double] = []
            if range > 0 {
                for divisor in [50.0, 20, 10, 4, 2, 1] {
                    var width = Hierarchy.nice(range / divisor)
                    if integral { width = max(width, 1) }
                    if widths.last.map({ width > $0 }) ?? true { widths.append(width) }
                }
            }
            kind = .numeric(widths: widths, integral: integral)
        } else {
            let longest = present.map(\.count).max() ?? 0
            let start = min(longest - 1, 8)
            kind = .text(prefixes: start >= 1 ? Array((1...start).reversed()) : [])
        }
    }

    /// The level that drops the column.
    var dropLevel: Int {
        switch kind {
        case .date: return 5
        case .numeric(let widths, _): return widths.count + 1
        case .text(let prefixes): return prefixes.count + 1
        }
    }

    func apply(level: Int) -> [String] {
        if level == 0 { return values }
        if level >= dropLevel { return [String](repeating: "", count: values.count) }
        return values.map { value in
            if value.isEmpty { return "" }
            switch kind {
            case .date:
                let date = CivilDate(Substring(value))!
                switch level {
                case 1: return date.monthText
                case 2: return CivilDate.pad(date.year, 4)
                default:
                    let span = level == 3 ? 5 : 10
                    let low = Hierarchy.floorDiv(date.year, span) * span
                    return "\(CivilDate.pad(low, 4))-\(CivilDate.pad(low + span - 1, 4))"
                }
            case .numeric(let widths, let integral):
                let width = widths[level - 1]
                let number = Double(value)!
                let low = (number / width).rounded(.down) * width
                if integral {
                    return "\(Int(low))-\(Int(low + width) - 1)"
                }
                return "[\(Hierarchy.format(low)),\(Hierarchy.format(low + width)))"
            case .text(let prefixes):
                let length = prefixes[level - 1]
                return value.count <= length ? value : String(value.prefix(length)) + "*"
            }
        }
    }

    func describe(level: Int) -> String {
        if level == 0 { return "unchanged" }
        if level >= dropLevel { return "dropped" }
        switch kind {
        case .date: return ["", "month", "year", "5 years", "10 years"][level]
        case .numeric(let widths, _): return "bands of \(Hierarchy.format(widths[level - 1]))"
        case .text(let prefixes): return "first \(prefixes[level - 1]) characters"
        }
    }

    /// The smallest of 1, 2, 5 × 10^e that is at least `x`.
    static func nice(_ x: Double) -> Double {
        guard x > 0 else { return 1 }
        var power = 1.0
        while power > x { power /= 10 }
        while power * 10 <= x { power *= 10 }
        for step in [1.0, 2, 5, 10] where step * power >= x { return step * power }
        return 10 * power
    }

    /// "01234": a code (postcode, id) that reads as a number but must stay text.
    static func hasLeadingZero(_ text: String) -> Bool {
        let digits = text.drop { $0 == "-" || $0 == "+" }
        return digits.count > 1 && digits.first == "0" && digits.dropFirst().first != "."
    }

    static func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }

    static func format(_ x: Double) -> String {
        x.rounded() == x && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }
}
