/// Clique proof-of-authority (EIP-225): who sealed a header, and whether they were allowed to.
///
/// extraData = 32 bytes of vanity ‖ (at epoch blocks) the signer list, 20 bytes each ‖ a 65-byte seal
/// (r ‖ s ‖ recovery id) over keccak(rlp(header with the seal removed from extraData)).
public enum Clique {
    public static let vanityLength = 32
    public static let sealLength = 65
    /// Difficulty of a block sealed by the in-turn signer, and by any other.
    public static let inTurnDifficulty = U256(2)
    public static let outOfTurnDifficulty = U256(1)

    /// The signer list an epoch (or genesis) header's extraData carries.
    public static func signers(checkpoint header: Header) throws(ChainError) -> [Address] {
        try signers(extraData: header.extraData)
    }

    /// The signer list in a checkpoint's extraData (as in a geth genesis file).
    public static func signers(extraData extra: [UInt8]) throws(ChainError) -> [Address] {
        guard extra.count >= vanityLength + sealLength, (extra.count - vanityLength - sealLength) % 20 == 0 else {
            throw ChainError(
                .invalidHeader,
                "Clique checkpoint extraData: expected 32 + 20·N + 65 bytes, found \(extra.count)"
            )
        }
        let list = extra[vanityLength..<(extra.count - sealLength)]
        guard !list.isEmpty else { throw ChainError(.invalidHeader, "Clique checkpoint extraData lists no signer") }
        return try stride(from: list.startIndex, to: list.endIndex, by: 20).map { (i) throws(ChainError) -> Address in
            try Address(list[i..<(i + 20)])
        }
    }

    /// The digest the signer sealed: the header's hash with the seal cut from extraData.
    public static func sealHash(_ header: Header) throws(ChainError) -> Hash32 {
        guard header.extraData.count >= vanityLength + sealLength else {
            throw ChainError(
                .invalidHeader,
                "Clique extraData: expected at least \(vanityLength + sealLength) bytes, found \(header.extraData.count)"
            )
        }
        var unsealed = header
        unsealed.extraData.removeLast(sealLength)
        return unsealed.hash
    }

    /// The address whose key sealed `header`.
    public static func signer(_ header: Header) throws(ChainError) -> Address {
        let digest = try sealHash(header)
        let seal = Array(header.extraData.suffix(sealLength))
        guard seal[64] <= 1 else {
            throw ChainError(.invalidSignature, "Clique seal recovery id: expected 0 or 1, found \(seal[64])")
        }
        let signature = try Signature(r: Array(seal[0..<32]), s: Array(seal[32..<64]), recoveryID: seal[64])
        return try Secp256k1.shared.recoverAddress(digest, signature)
    }

    /// Every Clique rule `header` breaks for the authorized `signers` (sorted or not).
    public static func check(_ header: Header, signers: [Address]) -> [HeaderCheckFailure] {
        var failures: [HeaderCheckFailure] = []
        let signer: Address
        do { signer = try Self.signer(header) } catch {
            return [HeaderCheckFailure(field: "extraData (Clique seal)", expected: "a valid seal", found: error.reason)]
        }
        let sorted = signers.sorted()
        guard let position = sorted.firstIndex(of: signer) else {
            return [
                HeaderCheckFailure(
                    field: "extraData (Clique seal)",
                    expected: "a seal by one of \(sorted.map(\.checksummed))",
                    found: "a seal by \(signer.checksummed)"
                )
            ]
        }
        let inTurn = Int(header.number % UInt64(sorted.count)) == position
        let expected = inTurn ? inTurnDifficulty : outOfTurnDifficulty
        if header.difficulty != expected {
            failures.append(
                HeaderCheckFailure(
                    field: "difficulty",
                    expected: "\(expected) (\(inTurn ? "in" : "out of") turn)",
                    found: "\(header.difficulty)"
                )
            )
        }
        if header.mixHash != .zero {
            failures.append(HeaderCheckFailure(field: "mixHash", expected: "zero", found: header.mixHash.hex))
        }
        if header.ommersHash != .emptyListHash {
            failures.append(
                HeaderCheckFailure(
                    field: "ommersHash",
                    expected: Hash32.emptyListHash.hex,
                    found: header.ommersHash.hex
                )
            )
        }
        return failures
    }
}
