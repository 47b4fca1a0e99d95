public import Hummingbird
import NIOCore

/// A JSON answer of the plane's routes: object keys keep their order, rendered with two-space indentation and
/// a final newline (the same text as the node's command output, so the routes answer exactly as before they
/// moved into this library).
public indirect enum ResponseJSON: Sendable {
    case string(String)
    case number(String)
    case bool(Bool)
    case null
    case array([ResponseJSON])
    case object([(String, ResponseJSON)])

    public static func int(_ v: some BinaryInteger) -> ResponseJSON { .number("\(v)") }

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

    static func quote(_ s: String) -> String {
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

    /// `value` as an application/json response.
    public static func response(_ value: ResponseJSON, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: value.rendered() + "\n"))
        )
    }

    /// The error envelope {"error": {"code", "message"}} with `status`.
    public static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        response(
            .object([("error", .object([("code", .string(code)), ("message", .string(message))]))]),
            status: status
        )
    }
}
