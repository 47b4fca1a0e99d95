/// A place in a bucket: `s3://BUCKET[/PREFIX]`. Objects go under `PREFIX/` (no leading or trailing slash kept).
public struct S3Location: Sendable, Hashable, CustomStringConvertible {
    public let bucket: String
    /// The key prefix without slashes at either end; empty for the bucket's root.
    public let prefix: String

    public init(bucket: String, prefix: String) {
        self.bucket = bucket
        self.prefix = prefix
    }

    /// Whether `text` names an S3 location rather than a directory.
    public static func isS3(_ text: String) -> Bool { text.hasPrefix("s3://") }

    /// Parses `s3://BUCKET[/PREFIX]`. Bucket names follow S3's rules (3–63 of `a-z 0-9 . -`, starting and
    /// ending with a letter or digit); the prefix may not hold empty, `.` or `..` segments.
    public static func parse(_ text: String) throws(ObjectStoreError) -> S3Location {
        guard isS3(text) else {
            throw ObjectStoreError(.malformed, "expected s3://BUCKET[/PREFIX], found \(text.prefix(200))")
        }
        let rest = text.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        let prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
        let trimmed = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-")
        guard (3...63).contains(bucket.count), bucket.allSatisfy(allowed.contains),
            bucket.first?.isLetter == true || bucket.first?.isNumber == true,
            bucket.last?.isLetter == true || bucket.last?.isNumber == true
        else {
            throw ObjectStoreError(
                .malformed,
                "\(text.prefix(200)): expected a bucket name of 3 to 63 characters a-z 0-9 . -, found \"\(bucket)\""
            )
        }
        if !trimmed.isEmpty {
            let segments = trimmed.split(separator: "/", omittingEmptySubsequences: false)
            guard !segments.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
                throw ObjectStoreError(
                    .malformed,
                    "\(text.prefix(200)): expected a prefix without empty, . or .. segments"
                )
            }
        }
        return S3Location(bucket: bucket, prefix: trimmed)
    }

    /// The key of `name` under the prefix.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "/" + name }

    public var description: String { "s3://\(bucket)" + (prefix.isEmpty ? "" : "/" + prefix) }
}
