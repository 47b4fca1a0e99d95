import Foundation

/// How sure a finding is. `certain` findings name something of the dataset itself (an identifier value, a
/// row, a canary) and block; `likely` findings go to human review.
public enum GateSeverity: String, Sendable, Hashable, Codable {
    case certain, likely
}

/// One thing a check found in one output file: the check's name, how sure it is, the place (line, cell,
/// byte offset) and why. `detail` never quotes a dataset value; it names the table and column instead.
public struct GateFinding: Sendable, Hashable, Codable {
    /// The check that fired (`identifier`, `canary`, `verbatim-row`, `pii`, `small-cell`, `encoded`, `file-type`).
    public var check: String
    /// How sure the finding is.
    public var severity: GateSeverity
    /// The place in the file: `line 3`, `row 12, column "n"`, `byte 4096`, with the decoding path if any.
    public var `where`: String
    /// Why this is a finding.
    public var detail: String
    /// The optional tool (`tesseract`) whose absence caused this finding; not part of the finding's JSON, it
    /// fills the report's `unavailable` list.
    public var unavailableTool: String?

    enum CodingKeys: String, CodingKey {
        case check, severity, `where`, detail
    }

    /// Creates a finding.
    public init(
        check: String,
        severity: GateSeverity,
        where place: String,
        detail: String,
        unavailableTool: String? = nil
    ) {
        self.check = check
        self.severity = severity
        self.`where` = place
        self.detail = detail
        self.unavailableTool = unavailableTool
    }
}

extension GateVerdict: Codable {}

/// The verdict on one output file: released when nothing was found, blocked when a certain finding was, and
/// otherwise sent to review.
public struct GateFileVerdict: Sendable, Hashable, Codable {
    /// The path relative to the output directory.
    public var path: String
    /// The file's decision.
    public var decision: GateVerdict
    /// What was found, in file order.
    public var findings: [GateFinding]

    /// Creates a verdict, deciding from the findings.
    public init(path: String, findings: [GateFinding]) {
        self.path = path
        self.findings = findings
        self.decision = Self.decide(findings)
    }

    /// release when nothing is found; block when a certain finding is; otherwise review.
    public static func decide(_ findings: [GateFinding]) -> GateVerdict {
        if findings.isEmpty { return .release }
        return findings.contains { $0.severity == .certain } ? .block : .review
    }
}

/// The gate's report on a whole output directory: the case decision is the worst file decision.
public struct GateReport: Sendable, Hashable, Codable {
    /// The worst of the file decisions (release when there are no files).
    public var decision: GateVerdict
    /// One verdict per file, sorted by path.
    public var files: [GateFileVerdict]
    /// Optional tools that were missing (`["tesseract"]`), so the files they would have read went to review;
    /// nil (absent from the JSON) when nothing was missing.
    public var unavailable: [String]?

    /// Creates a report, deciding from the files.
    public init(files: [GateFileVerdict]) {
        self.files = files.sorted { $0.path < $1.path }
        self.decision = Self.worst(files.map(\.decision))
        let missing = Set(files.flatMap(\.findings).compactMap(\.unavailableTool))
        self.unavailable = missing.isEmpty ? nil : missing.sorted()
    }

    /// block over review over release.
    public static func worst(_ decisions: [GateVerdict]) -> GateVerdict {
        if decisions.contains(.block) { return .block }
        if decisions.contains(.review) { return .review }
        return .release
    }

    /// The report as one JSON object: `{"decision", "files": [{"path", "decision", "findings": [{"check",
    /// "severity", "where", "detail"}]}], "unavailable": ["tesseract"]}` (`unavailable` only when a tool was
    /// missing).
    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and enums cannot fail.
        return Array((try? encoder.encode(self)) ?? Data("{}".utf8))
    }
}
