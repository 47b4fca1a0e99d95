/// The error body of every Privacy Plane refusal: `{"error": {"code": "snake_case", "message": "…"}}`, sent
/// with a distinct HTTP status per kind (docs/privacy-plane.md). The plane writes it; clients parse it.
public struct ErrorEnvelope: Hashable, Sendable {
    /// A stable snake_case code to branch on (`rental_inactive`, `token_already_used`, `rate_limited`, …).
    public var code: String
    /// What was expected and what was found, for people.
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public var json: [String: Any] { ["error": ["code": code, "message": message] as [String: Any]] }

    /// The envelope in `json`, or nil when it is not one.
    public init?(json: Any?) {
        guard let error = (json as? [String: Any])?["error"] as? [String: Any], let code = error["code"] as? String
        else { return nil }
        self.init(code: code, message: error["message"] as? String ?? "no message")
    }

    /// `camelCase` as the wire's `snake_case` (error codes are declared in camel case in Swift).
    public static func snakeCase(_ camel: String) -> String {
        var out = ""
        for c in camel {
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        return out
    }
}
