import Foundation

/// One value a pickle builds, as the walker records it: scalars, strings, bytes, containers, globals and the
/// calls (REDUCE, NEWOBJ, INST, OBJ) with the state BUILD gives them. Nothing is imported or called.
final class PickleNode {
    enum Kind {
        case none
        case bool(Bool)
        case int(Int)
        case bigInt
        case float(Double)
        case string(String)
        case bytes(ArraySlice<UInt8>)
        case list, tuple, dict, set
        case global(String, String)
        case call, mark, other
    }
    var kind: Kind
    /// list, tuple, set: the items; dict: key, value, key, value …; call: the callable then the arguments.
    var items: [PickleNode] = []
    /// What BUILD gave the object.
    var state: PickleNode?
    /// The byte offset of the opcode that made it.
    let offset: Int
    /// A joblib array read from the raw bytes after its NumpyArrayWrapper.
    var array: NumpyArray?

    init(_ kind: Kind, offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    var string: String? {
        if case .string(let s) = kind { return s }
        return nil
    }
    var int: Int? {
        if case .int(let v) = kind { return v }
        if case .bool(let v) = kind { return v ? 1 : 0 }
        return nil
    }
    var isContainer: Bool {
        switch kind {
        case .list, .tuple, .set: true
        default: false
        }
    }
    /// The callable's global name (`module.name`) of a call.
    var callee: (module: String, name: String)? {
        guard case .call = kind, let first = items.first, case .global(let m, let n) = first.kind else { return nil }
        return (m, n)
    }
    var arguments: [PickleNode] {
        guard case .call = kind, items.count >= 2 else { return [] }
        return items[1].isContainer ? items[1].items : [items[1]]
    }
    /// A dict's value for a string key.
    subscript(key: String) -> PickleNode? {
        guard case .dict = kind else { return nil }
        var i = 0
        while i + 1 < items.count {
            if items[i].string == key { return items[i + 1] }
            i += 2
        }
        return nil
    }
}

/// A bounded stack machine over pickle opcodes (protocols 0 to 5). It collects values and never imports,
/// calls or unpickles anything.
struct PickleWalker {
    struct Failure: Error {
        var reason: String
        var offset: Int
    }

    let b: [UInt8]
    var i: Int
    var stack: [PickleNode] = []
    var marks: [Int] = []
    var memo: [Int: PickleNode] = [:]
    var nodes = 0
    let maxNodes: Int
    let deadline: ContinuousClock.Instant?
    /// joblib arrays read inline, and nested pickles (object arrays) walked.
    var depth = 0

    init(_ bytes: [UInt8], start: Int = 0, maxNodes: Int, deadline: ContinuousClock.Instant?) {
        b = bytes
        i = start
        self.maxNodes = maxNodes
        self.deadline = deadline
    }

    mutating func node(_ kind: PickleNode.Kind, _ at: Int) throws(Failure) -> PickleNode {
        nodes += 1
        guard nodes <= maxNodes else { throw Failure(reason: "more than \(maxNodes) values", offset: at) }
        return PickleNode(kind, offset: at)
    }

    mutating func byte() throws(Failure) -> UInt8 {
        guard i < b.count else { throw Failure(reason: "truncated", offset: i) }
        i += 1
        return b[i - 1]
    }

    mutating func take(_ n: Int) throws(Failure) -> ArraySlice<UInt8> {
        guard n >= 0, n <= b.count - i else { throw Failure(reason: "a length of \(n) past the end", offset: i) }
        i += n
        return b[(i - n)..<i]
    }

    mutating func le(_ n: Int) throws(Failure) -> Int {
        let bytes = try take(n)
        var v: UInt64 = 0
        for (k, x) in bytes.enumerated() { v |= UInt64(x) << (8 * UInt64(k)) }
        guard n < 8 || v < 1 << 62 else { throw Failure(reason: "a length too large", offset: i - n) }
        return Int(v)
    }

    mutating func line() throws(Failure) -> String {
        guard let end = b[i...].firstIndex(of: 0x0A) else { throw Failure(reason: "an unterminated line", offset: i) }
        let text = String(decoding: b[i..<end], as: UTF8.self)
        i = end + 1
        return text
    }

    mutating func pop() throws(Failure) -> PickleNode {
        guard let top = stack.popLast() else { throw Failure(reason: "the stack is empty", offset: i - 1) }
        if case .mark = top.kind { throw Failure(reason: "a mark where a value was expected", offset: i - 1) }
        return top
    }

    mutating func popMark() throws(Failure) -> [PickleNode] {
        guard let mark = marks.popLast(), mark <= stack.count else {
            throw Failure(reason: "no mark to pop to", offset: i - 1)
        }
        let items = Array(stack[mark...])
        stack.removeLast(stack.count - mark)
        return items
    }

    mutating func top() throws(Failure) -> PickleNode {
        guard let top = stack.last else { throw Failure(reason: "the stack is empty", offset: i - 1) }
        return top
    }

    static func unquote(_ s: String) -> String {
        var t = Substring(s)
        if let q = t.first, q == "'" || q == "\"", t.count >= 2, t.last == q { t = t.dropFirst().dropLast() }
        return t.replacingOccurrences(of: "\\'", with: "'").replacingOccurrences(of: "\\n", with: "\n")
    }

    static func rawUnicode(_ s: String) -> String {
        guard s.contains("\\u") else { return s }
        var out = ""
        var chars = Array(s.unicodeScalars)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            if c == "\\", chars.first == "u", chars.count >= 5,
                let v = UInt32(String(String.UnicodeScalarView(chars.dropFirst().prefix(4))), radix: 16),
                let scalar = Unicode.Scalar(v)
            {
                out.unicodeScalars.append(scalar)
                chars = chars.dropFirst(5)
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Runs to STOP and returns the pickled value.
    mutating func run() throws(Failure) -> PickleNode {
        var steps = 0
        while true {
            steps += 1
            if steps & 4095 == 0, let deadline, ContinuousClock.now >= deadline {
                throw Failure(reason: "the time budget is spent", offset: i)
            }
            let at = i
            let op = try byte()
            switch op {
            case 0x80: _ = try byte()  // PROTO
            case 0x95: _ = try take(8)  // FRAME
            case 0x2E:  // STOP
                return try pop()
            case 0x28: marks.append(stack.count)  // MARK
            case 0x30: _ = try pop()  // POP
            case 0x31: _ = try popMark()  // POP_MARK
            case 0x32: stack.append(try top())  // DUP
            case 0x4E: stack.append(try node(.none, at))
            case 0x88: stack.append(try node(.bool(true), at))
            case 0x89: stack.append(try node(.bool(false), at))
            case 0x49:  // INT
                let text = try line()
                if text == "01" || text == "00" {
                    stack.append(try node(.bool(text == "01"), at))
                } else {
                    stack.append(try node(Int(text).map { .int($0) } ?? .bigInt, at))
                }
            case 0x4C:  // LONG
                var text = try line()
                if text.hasSuffix("L") { text.removeLast() }
                stack.append(try node(Int(text).map { .int($0) } ?? .bigInt, at))
            case 0x4A:  // BININT
                stack.append(try node(.int(Int(Int32(truncatingIfNeeded: try le(4)))), at))
            case 0x4B: stack.append(try node(.int(Int(try byte())), at))
            case 0x4D: stack.append(try node(.int(try le(2)), at))
            case 0x8A, 0x8B:  // LONG1, LONG4
                let n = op == 0x8A ? Int(try byte()) : try le(4)
                let bytes = try take(n)
                if n <= 8 {
                    var v: UInt64 = 0
                    for (k, x) in bytes.enumerated() { v |= UInt64(x) << (8 * UInt64(k)) }
                    if n > 0 && n < 8 && bytes.last! & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }
                    stack.append(try node(.int(Int(Int64(bitPattern: v))), at))
                } else {
                    stack.append(try node(.bigInt, at))
                }
            case 0x46:  // FLOAT
                stack.append(try node(.float(Double(try line()) ?? .nan), at))
            case 0x47:  // BINFLOAT (big-endian)
                let bytes = try take(8)
                var v: UInt64 = 0
                for x in bytes { v = v << 8 | UInt64(x) }
                stack.append(try node(.float(Double(bitPattern: v)), at))
            case 0x53:  // STRING
                stack.append(try node(.string(Self.unquote(try line())), at))
            case 0x54, 0x55:  // BINSTRING, SHORT_BINSTRING (Python 2 str: bytes)
                let n = op == 0x55 ? Int(try byte()) : try le(4)
                stack.append(try node(.bytes(try take(n)), at))
            case 0x56:  // UNICODE
                stack.append(try node(.string(Self.rawUnicode(try line())), at))
            case 0x58, 0x8C, 0x8D:  // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                let n = op == 0x8C ? Int(try byte()) : try le(op == 0x58 ? 4 : 8)
                stack.append(try node(.string(String(decoding: try take(n), as: UTF8.self)), at))
            case 0x42, 0x43, 0x8E, 0x96:  // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
                let n = op == 0x43 ? Int(try byte()) : try le(op == 0x42 ? 4 : 8)
                stack.append(try node(.bytes(try take(n)), at))
            case 0x97: stack.append(try node(.other, at))  // NEXT_BUFFER: out of band, absent
            case 0x98: break  // READONLY_BUFFER
            case 0x29: stack.append(try node(.tuple, at))
            case 0x5D: stack.append(try node(.list, at))
            case 0x7D: stack.append(try node(.dict, at))
            case 0x8F: stack.append(try node(.set, at))
            case 0x74, 0x6C, 0x91:  // TUPLE, LIST, FROZENSET
                let items = try popMark()
                let n = try node(op == 0x74 ? .tuple : op == 0x6C ? .list : .set, at)
                n.items = items
                stack.append(n)
            case 0x85, 0x86, 0x87:  // TUPLE1-3
                let count = Int(op - 0x84)
                guard stack.count >= count else { throw Failure(reason: "the stack is too short", offset: at) }
                let items = Array(stack.suffix(count))
                stack.removeLast(count)
                let n = try node(.tuple, at)
                n.items = items
                stack.append(n)
            case 0x64:  // DICT
                let items = try popMark()
                let n = try node(.dict, at)
                n.items = Array(items.prefix(items.count & ~1))
                stack.append(n)
            case 0x61:  // APPEND
                let value = try pop()
                try top().items.append(value)
            case 0x65, 0x90:  // APPENDS, ADDITEMS
                let items = try popMark()
                try top().items.append(contentsOf: items)
            case 0x73:  // SETITEM
                let value = try pop()
                let key = try pop()
                try top().items.append(contentsOf: [key, value])
            case 0x75:  // SETITEMS
                let items = try popMark()
                try top().items.append(contentsOf: items.prefix(items.count & ~1))
            case 0x63:  // GLOBAL
                let module = try line()
                let name = try line()
                stack.append(try node(.global(module, name), at))
            case 0x93:  // STACK_GLOBAL
                let name = try pop()
                let module = try pop()
                stack.append(try node(.global(module.string ?? "?", name.string ?? "?"), at))
            case 0x52, 0x81:  // REDUCE, NEWOBJ
                let args = try pop()
                let callable = try pop()
                let n = try node(.call, at)
                n.items = [callable, args]
                stack.append(n)
            case 0x92:  // NEWOBJ_EX
                let kwargs = try pop()
                let args = try pop()
                let callable = try pop()
                let n = try node(.call, at)
                n.items = [callable, args, kwargs]
                stack.append(n)
            case 0x69:  // INST
                let module = try line()
                let name = try line()
                let args = try popMark()
                let tuple = try node(.tuple, at)
                tuple.items = args
                let n = try node(.call, at)
                n.items = [try node(.global(module, name), at), tuple]
                stack.append(n)
            case 0x6F:  // OBJ
                let items = try popMark()
                guard let callable = items.first else { throw Failure(reason: "OBJ without a class", offset: at) }
                let tuple = try node(.tuple, at)
                tuple.items = Array(items.dropFirst())
                let n = try node(.call, at)
                n.items = [callable, tuple]
                stack.append(n)
            case 0x62:  // BUILD
                let state = try pop()
                let object = try top()
                object.state = state
                try joblibArray(object)
            case 0x50:  // PERSID
                _ = try line()
                stack.append(try node(.other, at))
            case 0x51:  // BINPERSID
                _ = try pop()
                stack.append(try node(.other, at))
            case 0x82, 0x83, 0x84:  // EXT1, EXT2, EXT4
                _ = try take(op == 0x82 ? 1 : op == 0x83 ? 2 : 4)
                stack.append(try node(.other, at))
            case 0x70: memo[Int(try line()) ?? -1] = try top()  // PUT
            case 0x71: memo[Int(try byte())] = try top()
            case 0x72: memo[try le(4)] = try top()
            case 0x94: memo[memo.count] = try top()  // MEMOIZE
            case 0x67, 0x68, 0x6A:  // GET, BINGET, LONG_BINGET
                let key = op == 0x67 ? Int(try line()) ?? -1 : op == 0x68 ? Int(try byte()) : try le(4)
                guard let value = memo[key] else { throw Failure(reason: "memo \(key) was never stored", offset: at) }
                stack.append(value)
            default:
                throw Failure(reason: "opcode 0x\(String(op, radix: 16)) is not a pickle opcode", offset: at)
            }
            guard memo.count <= maxNodes, stack.count <= maxNodes else {
                throw Failure(reason: "more than \(maxNodes) values", offset: at)
            }
        }
    }

    /// joblib writes an array's bytes right after its NumpyArrayWrapper is built (after a padding length byte
    /// and that much padding); object arrays follow as a nested pickle.
    mutating func joblibArray(_ object: PickleNode) throws(Failure) {
        guard let callee = object.items.first, case .global(let module, let name) = callee.kind,
            module.hasPrefix("joblib"), name == "NumpyArrayWrapper", let state = object.state,
            let shapeNode = state["shape"]
        else { return }
        let shape = shapeNode.items.compactMap(\.int)
        guard shape.count == shapeNode.items.count, let dtypeNode = state["dtype"],
            let dtype = PickleArrays.dtype(dtypeNode)
        else { throw Failure(reason: "a joblib array wrapper without a readable shape and dtype", offset: i) }
        var count = 1
        for n in shape {
            let (p, o) = count.multipliedReportingOverflow(by: max(n, 0))
            guard !o, p < 1 << 40 else { throw Failure(reason: "a joblib array too large", offset: i) }
            count = p
        }
        if dtype.kind == .object {
            guard depth < 3 else { throw Failure(reason: "joblib object arrays nested too deep", offset: i) }
            var inner = PickleWalker(b, start: i, maxNodes: maxNodes - nodes, deadline: deadline)
            inner.depth = depth + 1
            let value = try inner.run()
            nodes += inner.nodes
            i = inner.i
            if let array = PickleArrays.array(value) {
                object.array = array
            } else {
                object.items.append(value)
            }
            return
        }
        if state["numpy_array_alignment_bytes"] != nil {
            let padding = Int(try byte())
            _ = try take(padding)
        }
        let (size, o) = count.multipliedReportingOverflow(by: dtype.size)
        guard !o else { throw Failure(reason: "a joblib array too large", offset: i) }
        let data = try take(size)
        let order = state["order"]?.string ?? "C"
        object.array = NumpyArray(dtype: dtype, shape: shape, fortran: order == "F", data: data)
    }
}
