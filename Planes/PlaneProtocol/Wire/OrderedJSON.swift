import Foundation

/// A JSON value whose object keys keep their order, so command output and the plane's answers read in a stable,
/// meaningful order; rendered with two-space indentation. One renderer for the CLI and the HTTP routes.
public indirect enum OrderedJSON: Sendable {
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    case array([OrderedJSON])
    case object([(String, OrderedJSON)])

    public static func int(_ v: some BinaryInteger) -> OrderedJSON { .number("\(v)") }

    /// A JSONSerialization value (objects get their keys sorted); anything else becomes its description.
    public init(any value: Any) {
        switch value {
        case let s as String: self = .string(s)
        case let n as NSNumber:
            // JSONSerialization gives booleans as NSNumbers of ObjC type "c" (char).
            self = String(cString: n.objCType) == "c" ? .bool(n.boolValue) : .number(n.stringValue)
        case let a as [Any]: self = .array(a.map(OrderedJSON.init(any:)))
        case let o as [String: Any]: self = .object(o.keys.sorted().map { ($0, OrderedJSON(any: o[$0]!)) })
        case is NSNull: self = .null
        default: self = .string("\(value)")
        }
    }
    public static func optional(_ v: Bool?) -> OrderedJSON { v.map(OrderedJSON.bool) ?? .null }
    public static func optional(_ v: String?) -> OrderedJSON { v.map(OrderedJSON.string) ?? .null }

    /// Serialized with two-space indentation.
    public func rendered(indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .string(let s): return Self.quote(s)
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items):
            if items.isEmpty { return "[]" }
            return "[\n" + items.map { inner + $0.rendered(indent: inner) }.joined(separator: ",\n") + "\n\(indent)]"
        case .object(let fields):
            if fields.isEmpty { return "{}" }
            return "{\n"
                + fields.map { inner + Self.quote($0.0) + ": " + $0.1.rendered(indent: inner) }.joined(separator: ",\n")
                + "\n\(indent)}"
        }
    }

    public static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                out +=
                    "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count)
                    + String(c.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
