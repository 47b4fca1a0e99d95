// Merkle-Patricia trie (Ethereum Yellow Paper, appendix D): roots of key/value sets and proof verification.
//
// Roots are built bottom-up from the sorted key set, without a node database: light clients only ever need
// the root of a complete set (transactions, receipts, withdrawals) or to check a proof against a root.

/// Merkle-Patricia trie roots.
public enum Trie {
    /// The root of the trie holding `pairs` (keys are raw bytes; later duplicates win; empty values are absent).
    public static func root(_ pairs: [(key: [UInt8], value: [UInt8])]) -> Hash32 {
        var latest: [[UInt8]: [UInt8]] = [:]
        for (k, v) in pairs { latest[k] = v }
        let entries = latest.filter { !$0.value.isEmpty }.map { (nibbles: nibbles($0.key), value: $0.value) }
        return root(sorting: entries)
    }

    /// The root of the trie of distinct `entries` (any order; empty values are absent).
    private static func root(sorting entries: [Entry]) -> Hash32 {
        let sorted = entries.filter { !$0.value.isEmpty }.sorted { $0.nibbles.lexicographicallyPrecedes($1.nibbles) }
        guard !sorted.isEmpty else { return .emptyTrieRoot }
        return Keccak256.hash(node(sorted[...], depth: 0))
    }

    /// The root of the secure trie: every key is replaced by its Keccak-256 (state and storage tries).
    public static func secureRoot(_ pairs: [(key: [UInt8], value: [UInt8])]) -> Hash32 {
        root(pairs.map { (Keccak256.hash($0.key).bytes, $0.value) })
    }

    /// The root of a list trie: key i is rlp(i) (transactions, receipts, withdrawals). The keys are distinct,
    /// so no map of the latest value per key is needed.
    public static func orderedRoot(_ values: [[UInt8]]) -> Hash32 {
        var entries: [Entry] = []
        entries.reserveCapacity(values.count)
        for (i, v) in values.enumerated() { entries.append((nibbles(indexKey(UInt64(i))), v)) }
        return root(sorting: entries)
    }

    /// rlp(i) without building an item.
    static func indexKey(_ i: UInt64) -> [UInt8] {
        var w = RLPWriter(capacity: 9)
        w.uint(i)
        return w.out
    }

    static func nibbles(_ key: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(key.count * 2)
        for b in key {
            out.append(b >> 4)
            out.append(b & 0x0F)
        }
        return out
    }

    /// Hex-prefix encoding of a nibble path with the leaf flag.
    static func hexPrefix(_ path: ArraySlice<UInt8>, leaf: Bool) -> [UInt8] {
        var out = [UInt8]()
        let flag: UInt8 = leaf ? 2 : 0
        var rest = path
        if path.count % 2 == 1 {
            out.append((flag + 1) << 4 | rest.removeFirst())
        } else {
            out.append(flag << 4)
        }
        while let hi = rest.popFirst(), let lo = rest.popFirst() { out.append(hi << 4 | lo) }
        return out
    }

    private typealias Entry = (nibbles: [UInt8], value: [UInt8])

    /// The encoded node for `entries` (sorted, distinct, all sharing the first `depth` nibbles), written
    /// directly: each node is encoded once, and a child is embedded as its encoding or its hash.
    private static func node(_ entries: ArraySlice<Entry>, depth: Int) -> [UInt8] {
        if entries.count == 1, let only = entries.first {
            return pair(hexPrefix(only.nibbles[depth...], leaf: true), .string(only.value))
        }
        // Longest common prefix beyond depth: first and last of a sorted run bound it.
        let first = entries.first!.nibbles
        let last = entries.last!.nibbles
        var shared = depth
        while shared < first.count && shared < last.count && first[shared] == last[shared] { shared += 1 }
        if shared > depth {
            let child = node(entries, depth: shared)
            return pair(hexPrefix(first[depth..<shared], leaf: false), reference(child))
        }
        var children = [Reference](repeating: .empty, count: 16)
        var value: [UInt8] = []
        var rest = entries
        if let head = rest.first, head.nibbles.count == depth {
            value = head.value
            rest = rest.dropFirst()
        }
        while let head = rest.first {
            let nibble = head.nibbles[depth]
            let end = rest.firstIndex { $0.nibbles[depth] != nibble } ?? rest.endIndex
            children[Int(nibble)] = reference(node(rest[rest.startIndex..<end], depth: depth + 1))
            rest = rest[end...]
        }
        var payload = RLPWriter.stringLength(value)
        for c in children { payload += c.length }
        var w = RLPWriter(capacity: RLPWriter.listLength(payload: payload))
        w.list(payload: payload)
        for c in children { c.write(to: &w) }
        w.string(value)
        return w.out
    }

    /// How a parent holds a child or a value: the empty string, an inline node, a hash, or a byte string.
    private enum Reference {
        case empty
        case inline([UInt8])
        case hash(Hash32)
        case string([UInt8])

        var length: Int {
            switch self {
            case .empty: 1
            case .inline(let b): b.count
            case .hash: 33
            case .string(let b): RLPWriter.stringLength(b)
            }
        }

        func write(to w: inout RLPWriter) {
            switch self {
            case .empty: w.out.append(0x80)
            case .inline(let b): w.raw(b)
            case .hash(let h): w.hash(h)
            case .string(let b): w.string(b)
            }
        }
    }

    /// A leaf or extension node: [hex-prefix path, value or child].
    private static func pair(_ path: [UInt8], _ second: Reference) -> [UInt8] {
        let payload = RLPWriter.stringLength(path) + second.length
        var w = RLPWriter(capacity: RLPWriter.listLength(payload: payload))
        w.list(payload: payload)
        w.string(path)
        second.write(to: &w)
        return w.out
    }

    /// How a parent refers to a child: inline when its encoding is under 32 bytes, else by hash.
    private static func reference(_ encoded: [UInt8]) -> Reference {
        encoded.count < 32 ? .inline(encoded) : .hash(Keccak256.hash(encoded))
    }
}

extension Trie {
    /// Verifies a Merkle proof (the nodes from the root down, as eth_getProof returns them) for `key`.
    ///
    /// - Returns: the value stored at `key`, or `nil` when the proof shows that `key` is absent.
    /// - Throws: `.invalidProof` when the proof does not connect to `root` or is malformed.
    public static func verifyProof(root: Hash32, key: [UInt8], proof: [[UInt8]]) throws(ChainError) -> [UInt8]? {
        let path = nibbles(key)
        var position = 0
        var expected: RLPItem = .bytes(root.bytes)  // a hash reference, or an inline node
        var nodes = proof[...]

        if root == .emptyTrieRoot && (proof.isEmpty || proof == [[0x80]]) { return nil }

        while true {
            let node: RLPItem
            switch expected {
            case .bytes(let hash):
                guard hash.count == 32 else {
                    throw ChainError(
                        .invalidProof,
                        "malformed child reference of \(hash.count) bytes at nibble \(position)"
                    )
                }
                guard let encoded = nodes.popFirst() else {
                    throw ChainError(
                        .invalidProof,
                        "proof ends at nibble \(position) but node \(Hex.encode(hash)) is needed"
                    )
                }
                let actual = Keccak256.hash(encoded)
                guard actual.bytes == hash else {
                    throw ChainError(
                        .invalidProof,
                        "proof node \(proof.count - nodes.count - 1) hashes to \(actual.hex), expected \(Hex.encode(hash))"
                    )
                }
                do { node = try RLPItem.decode(encoded) } catch {
                    throw ChainError(.invalidProof, "proof node is not valid RLP: \(error.reason)")
                }
            case .list:
                node = expected
            }
            let items: [RLPItem]
            do { items = try node.list("trie node") } catch { throw ChainError(.invalidProof, error.reason) }
            switch items.count {
            case 17:
                if position == path.count {
                    guard nodes.isEmpty else {
                        throw ChainError(.invalidProof, "proof has \(nodes.count) nodes past the end of the key")
                    }
                    let value = try proofBytes(items[16])
                    return value.isEmpty ? nil : value
                }
                let child = items[Int(path[position])]
                position += 1
                if case .bytes(let b) = child, b.isEmpty {
                    guard nodes.isEmpty else {
                        throw ChainError(.invalidProof, "proof has \(nodes.count) nodes past an empty branch slot")
                    }
                    return nil
                }
                expected = child
            case 2:
                let encodedPath = try proofBytes(items[0])
                guard let flagByte = encodedPath.first, flagByte >> 4 <= 3 else {
                    throw ChainError(.invalidProof, "malformed hex-prefix path in a leaf or extension node")
                }
                let isLeaf = flagByte >> 4 >= 2
                var partial = nibbles(encodedPath).dropFirst(flagByte >> 4 & 1 == 1 ? 1 : 2)
                if flagByte >> 4 & 1 == 0 && flagByte & 0x0F != 0 {
                    throw ChainError(.invalidProof, "hex-prefix padding nibble is not zero")
                }
                let remaining = path[position...]
                if isLeaf {
                    guard nodes.isEmpty else {
                        throw ChainError(.invalidProof, "proof has \(nodes.count) nodes past a leaf")
                    }
                    return remaining.elementsEqual(partial) ? try proofBytes(items[1]) : nil
                }
                guard remaining.starts(with: partial) else {
                    guard nodes.isEmpty else {
                        throw ChainError(.invalidProof, "proof continues past a diverging extension")
                    }
                    return nil  // the key leaves the trie inside this extension
                }
                position += partial.count
                partial.removeAll()
                expected = items[1]
            default:
                throw ChainError(
                    .invalidProof,
                    "trie node has \(items.count) items; expected 17 (branch) or 2 (leaf/extension)"
                )
            }
        }
    }

    private static func proofBytes(_ item: RLPItem) throws(ChainError) -> [UInt8] {
        guard case .bytes(let b) = item else {
            throw ChainError(.invalidProof, "expected a byte string in a trie node, found a list")
        }
        return b
    }
}
