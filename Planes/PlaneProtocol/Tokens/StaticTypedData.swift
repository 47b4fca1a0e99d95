import ChainCore

/// EIP-712 hashing for the plane's own structs, whose members are all static types (address, bytes32,
/// uintN): each member is one 32-byte word, so hashStruct = keccak(typeHash ‖ words) without the generic
/// `TypedData` walk over dictionaries. Key release signs and checks two of these per request. The generic
/// `TypedData` form stays the definition: tests check both agree (and agree with eth-account).
struct StaticTypedData {
    let typeHash: Hash32

    /// `members` as (name, type) in declaration order; the type string is built the EIP-712 way.
    init(_ name: String, _ members: [TypedData.Member]) {
        typeHash = Keccak256.hash(
            utf8: name + "(" + members.map { "\($0.type) \($0.name)" }.joined(separator: ",") + ")"
        )
    }

    /// keccak(0x19 0x01 ‖ domainSeparator ‖ keccak(typeHash ‖ words)).
    func signingHash(domainSeparator: Hash32, words: [UInt8]) -> Hash32 {
        let structHash = Keccak256.hash(typeHash.bytes + words)
        return Keccak256.hash([0x19, 0x01] + domainSeparator.bytes + structHash.bytes)
    }

    static func word(_ address: Address) -> [UInt8] { [UInt8](repeating: 0, count: 12) + address.bytes }
    static func word(_ value: UInt64) -> [UInt8] {
        [UInt8](repeating: 0, count: 24) + withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }
}
