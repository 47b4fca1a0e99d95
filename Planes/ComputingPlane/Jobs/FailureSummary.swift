import Foundation

/// What a consumer learns at once about a job that exited with an error, without its stderr (an output that
/// only review may release): the Python exception's type, when it is one of Python's built-in exceptions, and
/// the line of the bundle's own file where it was raised (design §7, "a leak-safe failure summary"). A job's
/// own exception classes are not named, and a place is named only when it is a file of the published bundle
/// and a line that file has: the job writes its own stderr, so anything else could be data past review.
public enum FailureSummary {
    /// Python's built-in exception names (3.11).
    static let builtins: Set<String> = [
        "ArithmeticError", "AssertionError", "AttributeError", "BlockingIOError", "BrokenPipeError", "BufferError",
        "ConnectionError", "EOFError", "Exception", "FileExistsError", "FileNotFoundError", "FloatingPointError",
        "ImportError", "IndentationError", "IndexError", "InterruptedError", "IsADirectoryError", "KeyError",
        "KeyboardInterrupt", "LookupError", "MemoryError", "ModuleNotFoundError", "NameError",
        "NotADirectoryError", "NotImplementedError", "OSError", "OverflowError", "PermissionError",
        "RecursionError", "ReferenceError", "RuntimeError", "StopIteration", "SyntaxError", "SystemError",
        "TabError", "TimeoutError", "TypeError", "UnboundLocalError", "UnicodeDecodeError", "UnicodeEncodeError",
        "UnicodeError", "ValueError", "ZeroDivisionError",
    ]

    /// "KeyError at main.py line 7", "an exception at main.py line 7", or nil when the log shows no traceback.
    /// `sources` maps the bundle's files (paths as in the traceback, under /job/) to their line counts.
    public static func of(log: [UInt8], sources: [String: Int]) -> String? {
        let lines = String(decoding: log.suffix(64 << 10), as: UTF8.self).split(separator: "\n")
        guard let start = lines.lastIndex(where: { $0.hasPrefix("Traceback (most recent call last):") }) else {
            return nil
        }
        var place: String? = nil
        var name: String? = nil
        for line in lines[start...].dropFirst() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("File \"/job/"), let comma = trimmed.range(of: "\", line ") {
                let file = String(trimmed[trimmed.index(trimmed.startIndex, offsetBy: 11)..<comma.lowerBound])
                let number = Int(trimmed[comma.upperBound...].prefix { $0.isNumber }.prefix(7))
                if let number, let count = sources[file], (1...count).contains(number) {
                    place = "\(file) line \(number)"
                }
            } else if !line.hasPrefix(" ") {
                let head = line.prefix { $0 != ":" }
                let last = head.split(separator: ".").last.map(String.init) ?? ""
                name = builtins.contains(last) ? last : "an exception"
            }
        }
        guard let name else { return nil }
        return place.map { "\(name) at \($0)" } ?? name
    }
}
