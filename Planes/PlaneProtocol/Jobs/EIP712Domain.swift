import ChainCore

/// The EIP-712 domain separator of a named DeLong domain bound to one chain and one contract:
/// keccak(typeHash ‖ keccak(name) ‖ keccak(version) ‖ chainId ‖ verifyingContract), with
/// `EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)`.
enum EIP712Domain {
    static let typeHash = Keccak256.hash(
        utf8: "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )

    static func separator(name: String, version: String, chainID: UInt64, verifyingContract: Address) -> Hash32 {
        Keccak256.hash(
            typeHash.bytes + Keccak256.hash(utf8: name).bytes + Keccak256.hash(utf8: version).bytes
                + StaticTypedData.word(chainID) + StaticTypedData.word(verifyingContract)
        )
    }

    /// The domain as `TypedData` JSON (numbers as decimal strings).
    static func json(name: String, version: String, chainID: UInt64, verifyingContract: Address) -> [String: Any] {
        ["name": name, "version": version, "chainId": "\(chainID)", "verifyingContract": verifyingContract.hex]
    }
}

extension StaticTypedData {
    /// A `string` member: keccak256 of its UTF-8 bytes. (Named apart from `word`, so integer literals passed
    /// to `word` stay unambiguous.)
    static func stringWord(_ text: String) -> [UInt8] { Keccak256.hash(utf8: text).bytes }
    /// A `bool` member: 0 or 1 as a uint256.
    static func boolWord(_ flag: Bool) -> [UInt8] { word(UInt64(flag ? 1 : 0)) }
}
