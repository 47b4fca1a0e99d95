public import Foundation
public import PlaneCrypto

/// AWS Signature Version 4 (header form), pure: no clock, no network. The caller passes the time as
/// `amzDate` (`yyyyMMdd'T'HHmmss'Z'`, UTC) and the headers it will send, and gets back the `Authorization`
/// header value. The intermediate strings are public so tests can name the line that is wrong.
///
/// The canonical URI follows S3's rule: each path segment is percent-encoded once and the path is not
/// normalized (other AWS services encode twice; the unreserved-only vectors of AWS's suite agree with both).
public enum SigV4 {
    /// A request as it will be sent.
    public struct Request: Sendable {
        /// HTTP method, upper case.
        public var method: String
        /// The path, not yet percent-encoded, starting with `/`.
        public var path: String
        /// Query parameters, not yet percent-encoded, in any order.
        public var query: [(name: String, value: String)]
        /// The headers to sign (all that are sent, at least `host` and `x-amz-date`), in any order and case.
        public var headers: [(name: String, value: String)]
        /// Hex SHA-256 of the body (also sent as `x-amz-content-sha256` to S3), or `UNSIGNED-PAYLOAD`.
        public var payloadHash: String

        public init(
            method: String,
            path: String,
            query: [(name: String, value: String)] = [],
            headers: [(name: String, value: String)],
            payloadHash: String
        ) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    /// The credential scope: `date/region/service/aws4_request`.
    public struct Scope: Sendable, Hashable {
        /// `yyyyMMdd`, the first eight characters of the request's `x-amz-date`.
        public let date: String
        public let region: String
        public let service: String

        public init(date: String, region: String, service: String) {
            self.date = date
            self.region = region
            self.service = service
        }

        public var text: String { "\(date)/\(region)/\(service)/aws4_request" }
    }

    /// Hex SHA-256 of the empty body.
    public static let emptyPayloadHash = hex(Digest.sha256([]))

    /// Percent-encodes everything but the unreserved set `A-Za-z0-9-._~` (and `/` when `slash` is kept), with
    /// upper-case hex, byte by byte over UTF-8.
    public static func encode(_ text: String, keepSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                let digits = Array("0123456789ABCDEF".utf8)
                out.append("%")
                out.unicodeScalars.append(Unicode.Scalar(digits[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(digits[Int(byte & 0x0f)]))
            }
        }
        return out
    }

    /// The canonical URI: the path with each segment encoded once; an empty path is `/`.
    public static func canonicalURI(_ path: String) -> String {
        path.isEmpty ? "/" : encode(path, keepSlash: true)
    }

    /// The canonical query: names and values encoded, pairs sorted by name then value (byte order).
    public static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (encode($0.name, keepSlash: false), encode($0.value, keepSlash: false)) }
            .sorted { a, b in
                a.0 == b.0
                    ? Array(a.1.utf8).lexicographicallyPrecedes(b.1.utf8)
                    : Array(a.0.utf8).lexicographicallyPrecedes(b.0.utf8)
            }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// The canonical request and its signed-header list. Header names are lower-cased and sorted; values are
    /// trimmed and inner runs of spaces collapsed to one; a header given twice has its values joined by `,`.
    public static func canonicalRequest(_ request: Request) -> (text: String, signedHeaders: String) {
        var merged: [String: [String]] = [:]
        for (name, value) in request.headers {
            let collapsed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(collapsed.trimmingCharacters(in: .whitespaces))
        }
        let names = merged.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let signed = names.joined(separator: ";")
        let headerLines = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let text = [
            request.method, canonicalURI(request.path), canonicalQuery(request.query), headerLines, signed,
            request.payloadHash,
        ].joined(separator: "\n")
        return (text, signed)
    }

    /// `AWS4-HMAC-SHA256\n<amzDate>\n<scope>\n<hex sha256 of the canonical request>`.
    public static func stringToSign(canonicalRequest: String, amzDate: String, scope: Scope) -> String {
        "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope.text)\n" + hex(Digest.sha256(Array(canonicalRequest.utf8)))
    }

    /// HMAC chain `AWS4<secret>` → date → region → service → `aws4_request`; every link is held as secret.
    public static func signingKey(secret: SecretBytes, scope: Scope) throws(ObjectStoreError) -> SecretBytes {
        let prefixed = SecretBytes(count: secret.count + 4) { (buffer: UnsafeMutableRawBufferPointer) in
            buffer.copyBytes(from: Array("AWS4".utf8))
            secret.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[4...]).copyMemory(from: $0) }
        }
        var key = prefixed
        for part in [scope.date, scope.region, scope.service, "aws4_request"] {
            key = try mac(key, Array(part.utf8))
        }
        return key
    }

    /// The `Authorization` header value for `request`, signed at `amzDate` with `scope`.
    public static func authorization(
        _ request: Request,
        accessKeyID: String,
        secret: SecretBytes,
        amzDate: String,
        scope: Scope
    ) throws(ObjectStoreError) -> String {
        let canonical = canonicalRequest(request)
        let toSign = stringToSign(canonicalRequest: canonical.text, amzDate: amzDate, scope: scope)
        let key = try signingKey(secret: secret, scope: scope)
        let signature = try mac(key, Array(toSign.utf8)).withUnsafeBytes { hex(Array($0)) }
        return "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope.text), SignedHeaders=\(canonical.signedHeaders), "
            + "Signature=\(signature)"
    }

    /// `yyyyMMdd'T'HHmmss'Z'` of `date` in UTC.
    public static func amzDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d%02d%02dT%02d%02d%02dZ",
            Int(parts.tm_year) + 1900,
            Int(parts.tm_mon) + 1,
            Int(parts.tm_mday),
            Int(parts.tm_hour),
            Int(parts.tm_min),
            Int(parts.tm_sec)
        )
    }

    /// Lower-case hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func mac(_ key: SecretBytes, _ data: [UInt8]) throws(ObjectStoreError) -> SecretBytes {
        do {
            var tag = try HMAC.sha256(key: key, data: data)
            defer { SecretBytes.wipe(&tag) }
            return SecretBytes(copying: tag)
        } catch {
            throw ObjectStoreError(.io, "SigV4: HMAC-SHA256 failed: \(error)")
        }
    }
}
