public import ChainCore
import Foundation
public import PlaneCrypto

/// Where the Privacy Plane's root secret comes from: the dstack KMS in production, a local file in development.
public protocol RootSecretProvider: Sendable {
    /// The 32-byte root secret.
    func rootSecret() throws -> SecretBytes
}

/// A development root secret in a local file: 32 raw bytes, mode 0600, created only when asked to
/// (`createIfMissing`, the CLI's `--create-root-secret`): a typo in the path must not start a new key universe.
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
                throw PrivacyPlaneError(
                    .keyUnavailable,
                    "root secret file \(path) does not exist; expected an existing 32-byte file (mode 0600). A new "
                        + "root secret derives different keys for every dataset: if that is what you want, start "
                        + "with --create-root-secret"
                )
            }
            try create()
        }
        let secret: SecretBytes
        do { secret = try SecretFile.read(path, maxBytes: 32) } catch {
            throw PrivacyPlaneError(.keyUnavailable, "root secret file \(error.reason)")
        }
        guard secret.count == 32 else {
            throw PrivacyPlaneError(
                .keyUnavailable,
                "root secret file \(path): expected 32 bytes, found \(secret.count)"
            )
        }
        return secret
    }

    /// Writes 32 random bytes with O_CREAT|O_EXCL and mode 0600, so no other process can win a race to it.
    private func create() throws {
        do { try SecretFile.write(try SecretBytes.random(count: 32), to: path, exclusive: true) } catch {
            throw PrivacyPlaneError(.keyUnavailable, "cannot create root secret file \(path): \(error.reason)")
        }
    }
}

/// Dataset keys, derived from the root secret and never stored, bound to one deployment (version 2):
///
///     DEK = HKDF-SHA256(ikm: root, salt: "delong/dek/v2",
///                       info: chainId (8 bytes, big-endian) ‖ DataMarket address (20) ‖ datasetId (32)
///                             ‖ keyVersion (4 bytes, big-endian)), 32 bytes
///
/// Binding the chain id and the DataMarket address means that one root shared by two deployments (a testnet
/// and a mainnet plane of the same dstack app, or a copied `file:` root) gives unrelated keys even for the
/// same dataset id, which anyone can register first on a cheap chain.
///
/// Version 1 (salt "delong/dek/v1", info datasetId ‖ keyVersion, no deployment) is kept only for migration:
/// a plane started with `--serve-v1-provider-keys` hands each dataset's provider its version 1 key, so the
/// provider can unseal a dataset sealed under it and seal it again under the version 2 key
/// (docs/privacy-plane.md, "Migrating datasets sealed under DEK v1"). Sandboxes only ever get version 2 keys.
public struct DatasetKeys: Sendable {
    /// The deployment a key belongs to: the chain and the DataMarket contract that registers datasets.
    public struct Deployment: Hashable, Sendable {
        public let chainID: UInt64
        public let dataMarket: Address

        public init(chainID: UInt64, dataMarket: Address) {
            self.chainID = chainID
            self.dataMarket = dataMarket
        }
    }

    /// The HKDF salt of version 2 (the current derivation).
    public static let salt = Array("delong/dek/v2".utf8)
    /// The HKDF salt of version 1 (migration only).
    public static let saltV1 = Array("delong/dek/v1".utf8)

    private let root: SecretBytes
    /// The deployment every key is bound to.
    public let deployment: Deployment
    /// Migration mode: provider key releases return the version 1 key (sandbox releases never do).
    public let servesV1ToProviders: Bool

    public init(root: SecretBytes, deployment: Deployment, servesV1ToProviders: Bool = false) {
        self.root = root
        self.deployment = deployment
        self.servesV1ToProviders = servesV1ToProviders
    }

    /// The version 2 DEK of `datasetID` at `keyVersion` in this deployment (what sandboxes receive).
    public func dek(datasetID: Hash32, keyVersion: UInt32) throws -> SecretBytes {
        try Self.dek(root: root, deployment: deployment, datasetID: datasetID, keyVersion: keyVersion)
    }

    /// What the provider receives: the version 2 DEK, or the version 1 DEK in migration mode.
    public func providerDEK(datasetID: Hash32, keyVersion: UInt32) throws -> SecretBytes {
        servesV1ToProviders
            ? try Self.dekV1(root: root, datasetID: datasetID, keyVersion: keyVersion)
            : try dek(datasetID: datasetID, keyVersion: keyVersion)
    }

    /// The version 2 derivation (see the type's documentation).
    public static func dek(
        root: SecretBytes,
        deployment: Deployment,
        datasetID: Hash32,
        keyVersion: UInt32
    ) throws -> SecretBytes {
        try HKDF.sha256(
            key: root,
            salt: salt,
            info: withUnsafeBytes(of: deployment.chainID.bigEndian) { Array($0) } + deployment.dataMarket.bytes
                + datasetID.bytes + withUnsafeBytes(of: keyVersion.bigEndian) { Array($0) },
            outputLength: 32
        )
    }

    /// The version 1 derivation, not bound to any deployment: HKDF-SHA256(ikm: root, salt: "delong/dek/v1",
    /// info: datasetId ‖ keyVersion (u32 BE)). Only for opening datasets sealed before version 2.
    public static func dekV1(root: SecretBytes, datasetID: Hash32, keyVersion: UInt32) throws -> SecretBytes {
        try HKDF.sha256(
            key: root,
            salt: saltV1,
            info: datasetID.bytes + withUnsafeBytes(of: keyVersion.bigEndian) { Array($0) },
            outputLength: 32
        )
    }
}
