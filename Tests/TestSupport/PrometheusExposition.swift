import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// A `/metrics` answer parsed strictly as the Prometheus text exposition format 0.0.4: every line is a
/// `# HELP`, a `# TYPE` or a sample of a family whose `# TYPE` came before it; anything else throws, naming
/// the line. Written from the format's description, independently of the swift-prometheus that renders it.
public struct PrometheusExposition: Sendable {
    public struct Sample: Sendable, Hashable, CustomStringConvertible {
        public let name: String
        public let labels: [String: String]
        public let value: Double
        public var description: String {
            name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",")
                + "} \(value)"
        }
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let line: Int
        public let text: String
        public let why: String
        public var description: String { "line \(line) \"\(text)\": \(why)" }
    }

    public private(set) var samples: [Sample] = []
    /// The type of each family (`counter`, `gauge`, `histogram`, `summary`, `untyped`).
    public private(set) var types: [String: String] = [:]
    public private(set) var help: [String: String] = [:]

    public init(_ text: String) throws(ParseError) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.last == "" else { throw ParseError(line: lines.count, text: "", why: "expected a final line feed") }
        lines.removeLast()
        for (index, line) in lines.enumerated() {
            func fail(_ why: String) -> ParseError { ParseError(line: index + 1, text: String(line), why: why) }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
                guard parts.count >= 3, parts[0] == "#", parts[1] == "HELP" || parts[1] == "TYPE" else {
                    throw fail("expected # HELP or # TYPE")
                }
                let name = String(parts[2])
                guard Self.isMetricName(name) else { throw fail("invalid metric name") }
                if parts[1] == "HELP" {
                    guard help[name] == nil else { throw fail("a second HELP for \(name)") }
                    help[name] = parts.count > 3 ? String(parts[3]) : ""
                } else {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3])
                    else { throw fail("expected a type of counter, gauge, histogram, summary or untyped") }
                    guard types[name] == nil else { throw fail("a second TYPE for \(name)") }
                    guard !samples.contains(where: { Self.family(of: $0.name, types: types) == name }) else {
                        throw fail("TYPE after samples of \(name)")
                    }
                    types[name] = String(parts[3])
                }
                continue
            }
            let sample = try Self.sample(line, fail: fail)
            guard let family = Self.family(of: sample.name, types: types) else {
                throw fail("a sample of \(sample.name), whose family has no TYPE before it")
            }
            if types[family] == "histogram", sample.name == family + "_bucket", sample.labels["le"] == nil {
                throw fail("a histogram bucket without le")
            }
            guard !samples.contains(where: { $0.name == sample.name && $0.labels == sample.labels }) else {
                throw fail("a second sample of the same series")
            }
            samples.append(sample)
        }
    }

    /// The family a sample name belongs to: itself, or a histogram's or summary's `_bucket`, `_sum`, `_count`.
    static func family(of name: String, types: [String: String]) -> String? {
        if types[name] != nil { return name }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if types[base] == "histogram" || (types[base] == "summary" && suffix != "_bucket") { return base }
        }
        return nil
    }

    /// The value of the one sample `name` with exactly `labels`, nil when there is none.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The samples of family `family` (with a histogram's `_bucket`, `_sum` and `_count`).
    public func samples(of family: String) -> [Sample] {
        samples.filter { Self.family(of: $0.name, types: types) == family }
    }

    /// How many series family `family` has (a histogram counts once per label set, not per bucket).
    public func seriesCount(_ family: String) -> Int {
        Set(samples(of: family).map { $0.labels.filter { $0.key != "le" } }).count
    }

    static func isMetricName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || first == ":" || first.isASCIILetter else {
            return false
        }
        return s.unicodeScalars.allSatisfy { $0 == "_" || $0 == ":" || $0.isASCIILetter || $0.isASCIIDigit }
    }

    static func isLabelName(_ s: Substring) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || first.isASCIILetter else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || $0.isASCIILetter || $0.isASCIIDigit }
    }

    /// `name{label="value",…} value [timestamp]`.
    static func sample(_ line: Substring, fail: (String) -> ParseError) throws(ParseError) -> Sample {
        var rest = line[...]
        let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " } ?? rest.endIndex
        let name = String(rest[..<nameEnd])
        guard isMetricName(name) else { throw fail("invalid metric name") }
        rest = rest[nameEnd...]
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                guard let eq = rest.firstIndex(of: "="), isLabelName(rest[..<eq]) else {
                    throw fail("expected a label name and =")
                }
                let label = String(rest[..<eq])
                rest = rest[rest.index(after: eq)...]
                guard rest.first == "\"" else { throw fail("expected a quoted label value") }
                rest = rest.dropFirst()
                var value = ""
                while true {
                    guard let c = rest.first else { throw fail("an unterminated label value") }
                    rest = rest.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        guard let escaped = rest.first else { throw fail("an unterminated escape") }
                        rest = rest.dropFirst()
                        switch escaped {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw fail("an invalid escape \\\(escaped)")
                        }
                    } else {
                        value.append(c)
                    }
                }
                guard labels.updateValue(value, forKey: label) == nil else { throw fail("label \(label) twice") }
                if rest.first == "," {
                    rest = rest.dropFirst()
                } else if rest.first != "}" {
                    throw fail("expected , or }")
                }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw fail("expected a space before the value") }
        let fields = rest.dropFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard (1...2).contains(fields.count), let value = number(fields[0]) else { throw fail("expected a value") }
        if fields.count == 2, Int64(fields[1]) == nil { throw fail("expected a timestamp in milliseconds") }
        return Sample(name: name, labels: labels, value: value)
    }

    /// A Go `ParseFloat` number, as Prometheus reads it: decimals, exponents, and NaN/Inf in any case.
    static func number(_ s: Substring) -> Double? {
        switch s.lowercased() {
        case "nan": return .nan
        case "+inf", "inf": return .infinity
        case "-inf": return -.infinity
        default:
            guard s.allSatisfy({ $0.isNumber || "+-.eE".contains($0) }) else { return nil }
            return Double(s)
        }
    }
}

extension PrometheusExposition {
    /// GET `baseURL`/metrics (https trusting what ``trustCertificate(_:for:)`` registered): its content type
    /// and the exposition; a status other than 200 or a line that does not parse throws.
    public static func scrape(_ baseURL: String) async throws -> (contentType: String?, exposition: Self) {
        let response = try await TrustingClients.client(TrustingClients.registered(baseURL + "/metrics")).execute(
            HTTPClientRequest(url: baseURL + "/metrics"),
            timeout: .seconds(10)
        )
        let body = String(buffer: try await response.body.collect(upTo: 8 << 20))
        guard response.status.code == 200 else {
            throw ParseError(line: 0, text: body, why: "expected status 200, found \(response.status.code)")
        }
        return (response.headers.first(name: "Content-Type"), try Self(body))
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
