import Foundation

/// One check of an audit: what it looked at, what it found and what it expected.
public struct AuditCheck: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        case passed, failed, skipped
    }

    /// A short stable name (`jobRecorded`, `algorithmPublished`, …).
    public let name: String
    /// What the check verifies, in a sentence.
    public let title: String
    public let status: Status
    public let found: String
    public let expected: String

    public init(name: String, title: String, status: Status, found: String, expected: String) {
        self.name = name
        self.title = title
        self.status = status
        self.found = found
        self.expected = expected
    }

    public var json: [String: Any] {
        ["name": name, "title": title, "status": status.rawValue, "found": found, "expected": expected]
    }
}

/// The audit of one job: every check in order. It passes when none failed (skipped ones are optional checks
/// whose input was not given: `--source`, `--output`).
public struct AuditVerdict: Sendable {
    public let job: String
    public let checks: [AuditCheck]
    /// Whether the evidence was the INSECURE development evidence (no TEE vouched for anything).
    public let insecure: Bool

    public var passed: Bool { !checks.contains { $0.status == .failed } }

    public var json: [String: Any] {
        [
            "job": job, "verdict": passed ? "passed" : "failed", "insecure": insecure,
            "checks": checks.map(\.json),
        ]
    }

    /// The verdict for people: one block per check.
    public var text: String {
        var lines = ["audit of job \(job)"]
        for check in checks {
            lines.append("[\(check.status.rawValue)] \(check.name): \(check.title)")
            lines.append("    found:    \(check.found)")
            lines.append("    expected: \(check.expected)")
        }
        let failed = checks.filter { $0.status == .failed }.map(\.name)
        lines.append(
            passed
                ? "verdict: every check passed" + (insecure ? " (INSECURE development evidence: no TEE vouched)" : "")
                : "verdict: FAILED (\(failed.joined(separator: ", ")))"
        )
        return lines.joined(separator: "\n")
    }
}
