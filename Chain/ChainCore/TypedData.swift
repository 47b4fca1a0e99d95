// EIP-712 typed structured data: encodeType, encodeData, hashStruct, the domain separator and the digest
// that wallets sign (keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message))).
//
// Values arrive as JSON (what JSONSerialization produces from eth_signTypedData_v4 input); numbers may be
// JSON numbers or decimal/hex strings, and negative for intN.

/// An EIP-712 typed-data document.
public struct TypedData: @unchecked Sendable {
    /// One member of a struct type.
    public struct Member: Hashable, Sendable {
        public var name: String
        public var type: String
        public init(name: String, type: String) {
            self.name = name
            self.type = type
        }
    }

    public var types: [String: [Member]]
    public var primaryType: String
    public var domain: [String: Any]
    public var message: [String: Any]

    public init(types: [String: [Member]], primaryType: String, domain: [String: Any], message: [String: Any]) {
        self.types = types
        self.primaryType = primaryType
        self.domain = domain
        self.message = message
        if self.types["EIP712Domain"] == nil {
            // Infer the domain type from the fields present, in the order EIP-712 lists them.
            let known: [(String, String)] = [
                ("name", "string"), ("version", "string"), ("chainId", "uint256"),
                ("verifyingContract", "address"), ("salt", "bytes32"),
            ]
            self.types["EIP712Domain"] = known.filter { domain[$0.0] != nil }.map { Member(name: $0.0, type: $0.1) }
        }
    }

    /// Parses {types, primaryType, domain, message} (eth_signTypedData_v4's argument).
    public init(json: [String: Any]) throws(ChainError) {
        guard let rawTypes = json["types"] as? [String: Any] else {
            throw ChainError(.invalidTypedData, "expected an object \"types\"")
        }
        var types: [String: [Member]] = [:]
        for (name, list) in rawTypes {
            guard let members = list as? [[String: Any]] else {
                throw ChainError(.invalidTypedData, "types.\(name): expected an array of {name, type}")
            }
            types[name] = try members.map { (m: [String: Any]) throws(ChainError) -> Member in
                guard let n = m["name"] as? String, let t = m["type"] as? String else {
                    throw ChainError(.invalidTypedData, "types.\(name): every member needs a string name and type")
                }
                return Member(name: n, type: t)
            }
        }
        guard let primary = json["primaryType"] as? String else {
            throw ChainError(.invalidTypedData, "expected a string \"primaryType\"")
        }
        guard types[primary] != nil else {
            throw ChainError(.invalidTypedData, "primaryType \(primary) is not among the types")
        }
        self.init(
            types: types,
            primaryType: primary,
            domain: json["domain"] as? [String: Any] ?? [:],
            message: (json["message"] ?? json["data"]) as? [String: Any] ?? [:]
        )
    }

    // MARK: Hashing

    /// keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(primaryType, message)).
    public func signingHash() throws(ChainError) -> Hash32 {
        Keccak256.hash([0x19, 0x01] + (try domainSeparator()).bytes + (try hashStruct(primaryType, message)).bytes)
    }

    /// hashStruct(EIP712Domain, domain).
    public func domainSeparator() throws(ChainError) -> Hash32 { try hashStruct("EIP712Domain", domain) }

    /// keccak256(encodeData(type, value)).
    public func hashStruct(_ type: String, _ value: [String: Any]) throws(ChainError) -> Hash32 {
        Keccak256.hash(try encodeData(type, value))
    }

    /// typeHash ‖ enc(member₁) ‖ … ‖ enc(memberₙ).
    public func encodeData(_ type: String, _ value: [String: Any]) throws(ChainError) -> [UInt8] {
        guard let members = types[type] else { throw ChainError(.invalidTypedData, "unknown struct type \(type)") }
        var out = (try typeHash(type)).bytes
        for m in members {
            do { out += try encodeValue(m.type, value[m.name], depth: 0) } catch {
                throw error.within("\(type).\(m.name)")
            }
        }
        return out
    }

    /// keccak256(encodeType(type)).
    public func typeHash(_ type: String) throws(ChainError) -> Hash32 { Keccak256.hash(utf8: try encodeType(type)) }

    /// "Primary(type name,…)" followed by every referenced struct type, sorted by name.
    public func encodeType(_ type: String) throws(ChainError) -> String {
        var deps = Set<String>()
        try collectDependencies(type, into: &deps)
        deps.remove(type)
        return try ([type] + deps.sorted()).map { (t: String) throws(ChainError) -> String in
            guard let members = types[t] else { throw ChainError(.invalidTypedData, "unknown struct type \(t)") }
            return t + "(" + members.map { "\($0.type) \($0.name)" }.joined(separator: ",") + ")"
        }.joined()
    }

    private func collectDependencies(_ type: String, into deps: inout Set<String>) throws(ChainError) {
        let base = Self.baseType(type)
        guard let members = types[base], !deps.contains(base) else { return }
        deps.insert(base)
        for m in members { try collectDependencies(m.type, into: &deps) }
    }

    static func baseType(_ type: String) -> String {
        type.firstIndex(of: "[").map { String(type[..<$0]) } ?? type
    }

    private func encodeValue(_ type: String, _ value: Any?, depth: Int) throws(ChainError) -> [UInt8] {
        guard depth < 32 else { throw ChainError(.invalidTypedData, "nesting deeper than 32") }
        guard let value else { throw ChainError(.invalidTypedData, "missing value of type \(type)") }
        if type.hasSuffix("]") {
            let open = type.lastIndex(of: "[")!
            let element = String(type[..<open])
            let lengthText = type[type.index(after: open)..<type.index(before: type.endIndex)]
            guard let items = value as? [Any] else {
                throw ChainError(.invalidTypedData, "expected an array for \(type)")
            }
            if !lengthText.isEmpty, Int(lengthText) != items.count {
                throw ChainError(.invalidTypedData, "\(type) needs \(lengthText) items, found \(items.count)")
            }
            var concatenated: [UInt8] = []
            for item in items { concatenated += try encodeValue(element, item, depth: depth + 1) }
            return Keccak256.hash(concatenated).bytes
        }
        if types[type] != nil {
            guard let object = value as? [String: Any] else {
                throw ChainError(.invalidTypedData, "expected an object for struct \(type)")
            }
            return Keccak256.hash(try encodeData(type, object)).bytes
        }
        switch type {
        case "string":
            guard let s = value as? String else { throw ChainError(.invalidTypedData, "expected a string") }
            return Keccak256.hash(utf8: s).bytes
        case "bytes":
            return Keccak256.hash(try Self.bytes(value)).bytes
        case "bool":
            guard let b = value as? Bool else { throw ChainError(.invalidTypedData, "expected a boolean") }
            return try ABI.encode(.bool, .bool(b))
        case "address":
            guard let s = value as? String else { throw ChainError(.invalidTypedData, "expected an address string") }
            return try ABI.encode(.address, .address(Address(hex: s)))
        default:
            let abiType = try ABIType(parsing: type)
            switch abiType {
            case .uint: return try ABI.encode(abiType, .uint(Self.unsigned(value)))
            case .int: return try ABI.encode(abiType, .int(Self.signed(value)))
            case .fixedBytes(let n):
                let b = try Self.bytes(value)
                guard b.count == n else {
                    throw ChainError(.invalidTypedData, "\(type) needs \(n) bytes, found \(b.count)")
                }
                return try ABI.encode(abiType, .fixedBytes(b))
            default: throw ChainError(.invalidTypedData, "unsupported type \(type)")
            }
        }
    }

    static func bytes(_ value: Any) throws(ChainError) -> [UInt8] {
        guard let s = value as? String else { throw ChainError(.invalidTypedData, "expected hex bytes") }
        return try Hex.decode(s)
    }

    static func unsigned(_ value: Any) throws(ChainError) -> U256 {
        if let n = value as? Int {
            guard n >= 0 else { throw ChainError(.invalidTypedData, "expected an unsigned integer, found \(n)") }
            return U256(UInt64(n))
        }
        guard let s = value as? String else {
            throw ChainError(.invalidTypedData, "expected a number or numeric string")
        }
        return s.hasPrefix("0x") ? try U256(quantity: s) : try U256(decimal: s)
    }

    static func signed(_ value: Any) throws(ChainError) -> U256 {
        if let n = value as? Int { return n >= 0 ? U256(UInt64(n)) : U256.max - U256(UInt64(-(n + 1))) }
        guard let s = value as? String else {
            throw ChainError(.invalidTypedData, "expected a number or numeric string")
        }
        if s.hasPrefix("-") {
            let magnitude = try unsigned(String(s.dropFirst()))
            return magnitude.isZero ? .zero : U256.max - magnitude + U256(1)
        }
        return try unsigned(s)
    }
}
