public import ChainCore
public import PlaneCrypto

/// The key-release channel: X25519 between a fresh plane key and the recipient's key, HKDF-SHA256 over a
/// transcript, AES-256-GCM around the DEK. docs/key-release.md is the specification; the sandbox side
/// (``unwrap(_:recipient:)``) is here too so both ends share one definition.
///
///     transcript = SHA-256("delong/key-release/v2" ‖ tokenHash ‖ evidenceHash ‖ recipientKey ‖ planeKey)
///     wrapKey    = HKDF-SHA256(ikm: X25519(plane, recipient), salt: "delong/key-release/v2", info: transcript)
///     wrapped    = AES-256-GCM(wrapKey, nonce,
///                              aad: transcript ‖ chainId (u64 BE) ‖ datasetId ‖ keyVersion (u32 BE), DEK)
///
/// The chain id in the AAD is the one the recipient expects (its own configuration, never the plane's
/// answer): a key wrapped by a plane of another chain does not open.
public enum KeyWrap {
    public static let label = Array("delong/key-release/v2".utf8)
    static let reportDataLabel = Array("delong/report-data/v2".utf8)
    static let sampleReportDataLabel = Array("delong/report-data/sample/v1".utf8)

    /// What a sandbox must put in its REPORTDATA (64 bytes) so its quote vouches for exactly this key, agent
    /// signer, token and algorithm: SHA-512("delong/report-data/v2" ‖ recipientKey (32) ‖ agentSigner (20) ‖
    /// tokenHash ‖ imageDigest). `agentSigner` is the address of the agent's ephemeral secp256k1 key, which
    /// signs its lease renewals and the job's result record.
    public static func reportData(
        recipientKey: [UInt8],
        agentSigner: Address,
        tokenHash: Hash32,
        imageDigest: Hash32
    ) -> [UInt8] {
        Digest.sha512(reportDataLabel + recipientKey + agentSigner.bytes + tokenHash.bytes + imageDigest.bytes)
    }

    /// What a Computing Plane puts in its REPORTDATA when it asks for a sealed sample's key on an explore
    /// token: SHA-512("delong/report-data/sample/v1" ‖ recipientKey (32) ‖ tokenHash ‖ sampleDataset). Its own
    /// label keeps it apart from a sandbox's binding, so neither evidence serves the other request.
    public static func sampleReportData(recipientKey: [UInt8], tokenHash: Hash32, sampleDataset: Hash32) -> [UInt8] {
        Digest.sha512(sampleReportDataLabel + recipientKey + tokenHash.bytes + sampleDataset.bytes)
    }

    public static func transcript(
        tokenHash: Hash32,
        evidenceHash: Hash32,
        recipientKey: [UInt8],
        planeKey: [UInt8]
    ) -> [UInt8] {
        Digest.sha256(label + tokenHash.bytes + evidenceHash.bytes + recipientKey + planeKey)
    }

    static func aad(transcript: [UInt8], chainID: UInt64, dataset: Hash32, keyVersion: UInt32) -> [UInt8] {
        transcript + withUnsafeBytes(of: chainID.bigEndian) { Array($0) } + dataset.bytes
            + withUnsafeBytes(of: keyVersion.bigEndian) { Array($0) }
    }

    /// The wrapped DEK and what the recipient needs to open it.
    public struct Wrapped: Hashable, Sendable {
        public var dataset: Hash32
        public var keyVersion: UInt32
        public var tokenHash: Hash32
        public var evidenceHash: Hash32
        public var planeKey: [UInt8]
        public var nonce: [UInt8]
        /// Ciphertext ‖ 16-byte tag.
        public var sealed: [UInt8]

        public init(
            dataset: Hash32,
            keyVersion: UInt32,
            tokenHash: Hash32,
            evidenceHash: Hash32,
            planeKey: [UInt8],
            nonce: [UInt8],
            sealed: [UInt8]
        ) {
            self.dataset = dataset
            self.keyVersion = keyVersion
            self.tokenHash = tokenHash
            self.evidenceHash = evidenceHash
            self.planeKey = planeKey
            self.nonce = nonce
            self.sealed = sealed
        }
    }

    /// Wraps `dek` for `recipientKey` with a fresh plane key (forward secrecy: it is dropped right after).
    public static func wrap(
        _ dek: SecretBytes,
        chainID: UInt64,
        dataset: Hash32,
        keyVersion: UInt32,
        tokenHash: Hash32,
        evidenceHash: Hash32,
        recipientKey: [UInt8]
    ) throws -> Wrapped {
        let plane = try X25519PrivateKey()
        let transcript = transcript(
            tokenHash: tokenHash,
            evidenceHash: evidenceHash,
            recipientKey: recipientKey,
            planeKey: plane.publicKey
        )
        let wrapKey = try HKDF.sha256(key: plane.sharedSecret(with: recipientKey), salt: label, info: transcript)
        let nonce = try SecureRandom.bytes(count: AES256GCM.nonceLength)
        let aad = aad(transcript: transcript, chainID: chainID, dataset: dataset, keyVersion: keyVersion)
        let cipher = try AES256GCM(key: wrapKey)
        var sealed = [UInt8](repeating: 0, count: dek.count + AES256GCM.tagLength)
        try sealed.withUnsafeMutableBytes { (out) throws in
            try dek.withUnsafeBytes { (d) throws in
                try nonce.withUnsafeBytes { (n) throws in
                    try aad.withUnsafeBytes { (a) throws in
                        try cipher.seal(
                            nonce: n,
                            aad: a,
                            plaintext: d,
                            ciphertext: UnsafeMutableRawBufferPointer(rebasing: out[0..<d.count]),
                            tag: UnsafeMutableRawBufferPointer(rebasing: out[d.count...])
                        )
                    }
                }
            }
        }
        return Wrapped(
            dataset: dataset,
            keyVersion: keyVersion,
            tokenHash: tokenHash,
            evidenceHash: evidenceHash,
            planeKey: plane.publicKey,
            nonce: nonce,
            sealed: sealed
        )
    }

    /// The recipient's side: the DEK, or nil when anything was altered or the key was wrapped for a chain
    /// other than `chainID` (the chain the recipient expects).
    public static func unwrap(_ w: Wrapped, recipient: X25519PrivateKey, chainID: UInt64) throws -> SecretBytes? {
        let transcript = transcript(
            tokenHash: w.tokenHash,
            evidenceHash: w.evidenceHash,
            recipientKey: recipient.publicKey,
            planeKey: w.planeKey
        )
        let wrapKey = try HKDF.sha256(key: recipient.sharedSecret(with: w.planeKey), salt: label, info: transcript)
        guard w.sealed.count >= AES256GCM.tagLength, w.nonce.count == AES256GCM.nonceLength else { return nil }
        let aad = aad(transcript: transcript, chainID: chainID, dataset: w.dataset, keyVersion: w.keyVersion)
        let cipher = try AES256GCM(key: wrapKey)
        let length = w.sealed.count - AES256GCM.tagLength
        var authentic = false
        let dek = try SecretBytes(count: length) { (out) throws in
            authentic = try w.sealed.withUnsafeBytes { (s) throws in
                try w.nonce.withUnsafeBytes { (n) throws in
                    try aad.withUnsafeBytes { (a) throws in
                        try cipher.open(
                            nonce: n,
                            aad: a,
                            ciphertext: UnsafeRawBufferPointer(rebasing: s[0..<length]),
                            tag: UnsafeRawBufferPointer(rebasing: s[length...]),
                            plaintext: out
                        )
                    }
                }
            }
        }
        return authentic ? dek : nil
    }
}
