import Foundation

/// Residual degrees of freedom of model summaries written as text: statsmodels (`Df Residuals:`, or
/// `No. Observations:` less the coefficient rows), R (`on N degrees of freedom`, `F-statistic: … on A and B DF`).
enum ModelSummary {
    /// (1-based line, residual degrees of freedom, how it was read) for each summary found in `text`.
    static func residualDegrees(_ text: String) -> [(line: Int, dof: Int, source: String)] {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        var found: [(Int, Int, String)] = []
        var observations: (line: Int, n: Int)?
        var sawResiduals = false
        var coefficientRows = 0
        var inCoefficients = false
        func flush() {
            if let obs = observations, !sawResiduals, coefficientRows > 0 {
                found.append(
                    (obs.line, obs.n - coefficientRows, "No. Observations less \(coefficientRows) coefficients")
                )
            }
            observations = nil
            sawResiduals = false
            coefficientRows = 0
            inCoefficients = false
        }
        for (i, raw) in lines.enumerated() {
            let line = String(raw)
            if let n = number(after: "Df Residuals:", in: line) {
                found.append((i + 1, n, "Df Residuals"))
                sawResiduals = true
            }
            if let n = number(after: "No. Observations:", in: line) {
                if observations != nil { flush() }
                observations = (i + 1, n)
            }
            if line.contains("coef") && (line.contains("std err") || line.contains("Std.Err")) {
                inCoefficients = true
                continue
            }
            if inCoefficients {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("===") || trimmed.hasPrefix("---") {
                    if coefficientRows > 0 { inCoefficients = false }
                    continue
                }
                let fields = trimmed.split(separator: " ")
                if fields.count >= 3, fields.dropFirst().prefix(2).allSatisfy({ StatText.number($0) != nil }) {
                    coefficientRows += 1
                }
            }
            // R: "Residual standard error: 1.2 on 5 degrees of freedom", "Residual deviance: 3.1 on 7 degrees of freedom".
            if line.contains("Residual"), let range = line.range(of: " degrees of freedom") {
                let before = line[..<range.lowerBound].split(separator: " ")
                if before.count >= 2, before[before.count - 2] == "on", let n = Int(before.last!) {
                    found.append((i + 1, n, "R residual degrees of freedom"))
                    sawResiduals = true
                }
            }
            if line.contains("F-statistic:"), let range = line.range(of: " DF") {
                let before = line[..<range.lowerBound].split(separator: " ")
                if before.count >= 3, before[before.count - 2] == "and", let n = Int(before.last!) {
                    found.append((i + 1, n, "F-statistic denominator degrees of freedom"))
                    sawResiduals = true
                }
            }
        }
        flush()
        var seen = Set<Int>()
        return found.filter { seen.insert($0.0).inserted }
    }

    static func number(after label: String, in line: String) -> Int? {
        guard let range = line.range(of: label) else { return nil }
        let rest = line[range.upperBound...].drop { $0 == " " }
        let digits = rest.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(digits), value.rounded() == value, abs(value) < 1e12 else { return nil }
        return Int(value)
    }
}
