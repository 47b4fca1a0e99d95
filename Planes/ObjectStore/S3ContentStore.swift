public import Logging
import PlaneCrypto

/// A content-addressed store in a bucket, with the same layout as a DA store directory:
/// `PREFIX/sha256/<64 hex>` holds the bytes whose SHA-256 is that hex.
///
/// A PUT is atomic in S3, so an object appears whole or not at all. An existing object is never overwritten:
/// ``put(_:logger:)`` looks first (HEAD), and when something is there it reads it back and accepts it only if
/// it hashes to its address; other bytes under that address are a ``ObjectStoreError/Code/conflict``.
public struct S3ContentStore: Sendable {
    public let client: S3Client
    public let location: S3Location

    public init(client: S3Client, location: S3Location) {
        self.client = client
        self.location = location
    }

    /// Whether a ``put(_:logger:)`` wrote the object or found it already there.
    public enum Outcome: String, Sendable { case written, alreadyPresent }

    /// The key of the object with `digest`.
    public func key(of digest: [UInt8]) -> String { location.key("sha256/" + SigV4.hex(digest)) }

    /// `s3://BUCKET/KEY` of the object with `digest`.
    public func url(of digest: [UInt8]) -> String { "s3://\(location.bucket)/\(key(of: digest))" }

    /// Stores `bytes` under their SHA-256 and returns it, writing nothing when the object is already there.
    public func put(
        _ bytes: [UInt8],
        logger: Logger
    ) async throws(ObjectStoreError) -> (digest: [UInt8], outcome: Outcome) {
        let digest = Digest.sha256(bytes)
        let key = key(of: digest)
        try await client.headBucket(location.bucket, logger: logger)
        if let length = try await client.headObject(bucket: location.bucket, key: key, logger: logger) {
            guard length == bytes.count,
                let existing = try await client.getObject(
                    bucket: location.bucket,
                    key: key,
                    limit: bytes.count + 1,
                    logger: logger
                ),
                Digest.sha256(existing) == digest
            else {
                throw ObjectStoreError(
                    .conflict,
                    "\(url(of: digest)) already holds \(length) bytes that do not hash to its address (expected "
                        + "\(bytes.count) bytes of sha256:\(SigV4.hex(digest))); it was left as it is"
                )
            }
            return (digest, .alreadyPresent)
        }
        try await client.putObject(bucket: location.bucket, key: key, bytes: bytes, logger: logger)
        return (digest, .written)
    }

    /// The object with `digest`, refused unless its bytes hash to it.
    public func get(_ digest: [UInt8], limit: Int, logger: Logger) async throws(ObjectStoreError) -> [UInt8] {
        guard
            let bytes = try await client.getObject(
                bucket: location.bucket,
                key: key(of: digest),
                limit: limit,
                logger: logger
            )
        else {
            throw ObjectStoreError(.io, "\(url(of: digest)): expected an object, found none")
        }
        let found = Digest.sha256(bytes)
        guard found == digest else {
            throw ObjectStoreError(
                .mismatch,
                "\(url(of: digest)): holds bytes of sha256:\(SigV4.hex(found))"
            )
        }
        return bytes
    }
}
