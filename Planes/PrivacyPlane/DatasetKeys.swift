public import ChainCore
import Foundation
public import PlaneCrypto

/// Where the Privacy Plane's root secret comes from: the dstack KMS in production, a local file in development.
public protocol RootSecretProvider: Sendable {
    /// The 32-byte root secret.
    func rootSecret() throws -> SecretBytes
}

/// A development root secret in a local file: 32 raw bytes, mode 0600, created on first use when asked to.
/// A file readable by group or others is refused: anyone who reads it can derive every dataset key.
public struct LocalRootSecretFile: RootSecretProvider {
    public let path: String
    public let createIfMissing: Bool

    public init(path: String, createIfMissing: Bool = false) {
        self.path = path
        self.createIfMissing = createIfMissing
    }

    public func rootSecret() throws -> SecretBytes {
        if !FileManager.default.fileExists(atPath: path) {
            guard createIfMissing else {
                throw PrivacyPlaneError(.keyUnavailable, "root secret file \(path) does not exist")
            }
            try create()
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw PrivacyPlaneError(.keyUnavailable, "cannot stat root secret file \(path)")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw PrivacyPlaneError(
                .keyUnavailable,
                "root secret file \(path) has mode \(String(info.st_mode & 0o777, radix: 8)); expected 600 (no access for group or others)"
            )
        }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        defer { SecretBytes.wipe(&bytes) }
        guard bytes.count == 32 else {
            throw PrivacyPlaneError(
                .keyUnavailable,
                "root secret file \(path): expected 32 bytes, found \(bytes.count)"
            )
        }
        return SecretBytes(copying: bytes)
    }

    /// Writes 32 random bytes with O_CREAT|O_EXCL and mode 0600, so no other process can win a race to it.
    private func create() throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw PrivacyPlaneError(.keyUnavailable, "cannot create root secret file \(path): errno \(errno)")
        }
        defer { close(fd) }
        let secret = try SecretBytes.random(count: 32)
        let written = secret.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == 32, fsync(fd) == 0 else {
            throw PrivacyPlaneError(.keyUnavailable, "cannot write root secret file \(path)")
        }
    }
}

/// Dataset keys, derived and never stored: DEK = HKDF-SHA256(ikm: root, salt: "delong/dek/v1",
/// info: datasetId (32 bytes) ‖ keyVersion (4 bytes, big-endian)), 32 bytes.
public enum DatasetKeys {
    public static let salt = Array("delong/dek/v1".utf8)

    public static func dek(root: SecretBytes, datasetID: Hash32, keyVersion: UInt32) throws -> SecretBytes {
        try HKDF.sha256(
            key: root,
            salt: salt,
            info: datasetID.bytes + withUnsafeBytes(of: keyVersion.bigEndian) { Array($0) },
            outputLength: 32
        )
    }
}
