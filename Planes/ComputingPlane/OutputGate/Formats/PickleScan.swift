import Foundation

/// Arrays inside a walked pickle: numpy's `_frombuffer` (protocol 5) and `_reconstruct` + BUILD (older
/// protocols), joblib's NumpyArrayWrapper with its inline bytes, and pyarrow's `_restore_array` (pandas string
/// columns).
enum PickleArrays {
    static func isNumpy(_ module: String) -> Bool { module == "numpy" || module.hasPrefix("numpy.") }

    /// A `numpy.dtype(name, align, copy)` call with its BUILD state (byte order, field names and offsets).
    static func dtype(_ node: PickleNode, depth: Int = 0) -> NumpyDType? {
        guard depth < 4, let callee = node.callee, isNumpy(callee.module), callee.name == "dtype",
            let name = node.arguments.first?.string
        else { return nil }
        let state = node.state?.items ?? []
        let order = state.count > 1 ? state[1].string ?? "<" : "<"
        if state.count > 5, case .tuple = state[3].kind, case .dict = state[4].kind {
            var fields: [(name: String, type: NumpyDType, offset: Int)] = []
            for nameNode in state[3].items {
                guard let field = nameNode.string, let spec = state[4][field], spec.items.count >= 2,
                    let type = dtype(spec.items[0], depth: depth + 1), let offset = spec.items[1].int
                else { return nil }
                fields.append((field, type, offset))
            }
            let size = state[5].int ?? 0
            guard size > 0, fields.allSatisfy({ $0.offset >= 0 && $0.offset + $0.type.size <= size }) else {
                return nil
            }
            return NumpyDType(kind: .record, size: size, fields: fields)
        }
        guard var type = NumpyDType.fromPickle(name, order: order) else { return nil }
        if type.kind == .datetime, type.unit.isEmpty {
            // The unit is in the state's metadata: (None, (b"us", 1, 1, 1)).
            type.unit = "ns"
            var queue = state.filter(\.isContainer)
            var looked = 0
            while let item = queue.popLast(), looked < 32 {
                looked += 1
                for child in item.items {
                    let text = child.string ?? bytes(child).map { String(decoding: $0, as: UTF8.self) }
                    if let text, ["D", "s", "ms", "us", "ns"].contains(text) { type.unit = text }
                    if child.isContainer { queue.append(child) }
                }
            }
        }
        return type
    }

    static func shape(_ node: PickleNode?) -> [Int]? {
        guard let node else { return nil }
        if let n = node.int { return [n] }
        let dims = node.items.compactMap(\.int)
        guard dims.count == node.items.count, dims.allSatisfy({ $0 >= 0 && $0 < 1 << 40 }) else { return nil }
        return dims
    }

    static func bytes(_ node: PickleNode?) -> ArraySlice<UInt8>? {
        guard let node else { return nil }
        if case .bytes(let b) = node.kind { return b }
        if case .string(let s) = node.kind {
            return ArraySlice(s.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        }
        // pyarrow.py_buffer(bytes); protocols 0-2 write bytes as _codecs.encode(str, "latin1") or bytearray(str, …).
        if let callee = node.callee, ["py_buffer", "encode", "bytearray", "bytes"].contains(callee.name) {
            return bytes(node.arguments.first)
        }
        return nil
    }

    /// A scalar node as the text the index normalizes.
    static func text(_ node: PickleNode) -> String? {
        switch node.kind {
        case .string(let s): s
        case .int(let v): String(v)
        case .float(let d): NumpyDType.number(d, short: nil)
        case .bytes(let b): String(validating: b, as: UTF8.self)
        default: nil
        }
    }

    /// The array `node` builds, if it is one the gate reads.
    static func array(_ node: PickleNode) -> NumpyArray? {
        if let array = node.array { return array }
        guard let callee = node.callee else { return nil }
        let args = node.arguments
        if isNumpy(callee.module), callee.name == "_frombuffer", args.count >= 3, let data = bytes(args[0]),
            let dtype = dtype(args[1]), let shape = shape(args[2])
        {
            return sized(
                NumpyArray(dtype: dtype, shape: shape, fortran: args.count > 3 && args[3].string == "F", data: data)
            )
        }
        if isNumpy(callee.module), callee.name == "_reconstruct", let state = node.state?.items, state.count >= 5,
            let shape = shape(state[1]), let dtype = dtype(state[2])
        {
            let fortran = state[3].int == 1
            if dtype.kind == .object || state[4].isContainer {
                var array = NumpyArray(dtype: NumpyDType(kind: .object, size: 8), shape: shape, fortran: fortran)
                array.objects = state[4].items.map(text)
                return array
            }
            guard let data = bytes(state[4]) else { return nil }
            return sized(NumpyArray(dtype: dtype, shape: shape, fortran: fortran, data: data))
        }
        if callee.name == "_restore_array", callee.module.hasPrefix("pyarrow") { return arrow(args) }
        return nil
    }

    /// Keeps an array only when its bytes hold every item.
    static func sized(_ array: NumpyArray) -> NumpyArray? {
        let (bytes, overflow) = array.count.multipliedReportingOverflow(by: array.dtype.size)
        return !overflow && bytes <= array.data.count ? array : nil
    }

    /// pyarrow's `_restore_array(type, length, null_count, offset, buffers, children, dictionary)` for
    /// string and primitive types.
    static func arrow(_ packed: [PickleNode]) -> NumpyArray? {
        let args = packed.count == 1 && packed[0].isContainer ? packed[0].items : packed
        guard args.count >= 5, let length = args[1].int, let offset = args[3].int, length >= 0, offset >= 0,
            let typeCall = args[0].callee, typeCall.name == "type_for_alias",
            let alias = args[0].arguments.first?.string
        else { return nil }
        let buffers = args[4].items
        switch alias {
        case "string", "utf8", "large_string", "large_utf8":
            guard buffers.count >= 3, let offsets = bytes(buffers[1]), let data = bytes(buffers[2]) else { return nil }
            let width = alias.hasPrefix("large") ? 8 : 4
            var cells: [String?] = []
            cells.reserveCapacity(length)
            for k in offset..<(offset + length) {
                let at = offsets.startIndex + k * width
                guard at + 2 * width <= offsets.endIndex else { return nil }
                let start = Int(truncatingIfNeeded: word(offsets, at, width))
                let end = Int(truncatingIfNeeded: word(offsets, at + width, width))
                guard start >= 0, start <= end, data.startIndex + end <= data.endIndex else { return nil }
                cells.append(String(decoding: data[(data.startIndex + start)..<(data.startIndex + end)], as: UTF8.self))
            }
            var array = NumpyArray(dtype: NumpyDType(kind: .object, size: 8), shape: [length])
            array.objects = cells
            return array
        default:
            let codes = [
                "int8": "i1", "int16": "i2", "int32": "i4", "int64": "i8", "uint8": "u1", "uint16": "u2",
                "uint32": "u4", "uint64": "u8", "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
                "date32[day]": "i4", "timestamp[ns]": "M8[ns]", "timestamp[us]": "M8[us]",
            ]
            guard let code = codes[alias], buffers.count >= 2, let data = bytes(buffers[1]),
                var dtype = NumpyDType.parse("<" + code)
            else { return nil }
            if alias == "date32[day]" { dtype = NumpyDType(kind: .datetime, size: 4, unit: "D") }
            let start = data.startIndex + offset * dtype.size
            guard start <= data.endIndex else { return nil }
            return sized(NumpyArray(dtype: dtype, shape: [length], data: data[start...]))
        }
    }

    static func word(_ b: ArraySlice<UInt8>, _ at: Int, _ width: Int) -> UInt64 {
        var v: UInt64 = 0
        for k in 0..<width { v |= UInt64(b[at + k]) << (8 * UInt64(k)) }
        return v
    }
}

extension GateScan {
    /// Attributes of scikit-learn estimators that hold training rows.
    static let memorizingAttributes = [
        "_fit_X", "support_vectors_", "X_train_", "X_fit_", "_X_train", "X_", "_X", "train_X", "_fit_data",
    ]

    /// Walks a pickle or joblib file (never unpickles it) and checks what it holds: strings, arrays, tables
    /// (pandas DataFrames) and the models that memorize training rows.
    mutating func pickle(_ bytes: [UInt8], place: String) {
        var walker = PickleWalker(bytes, maxNodes: limits.maxPickleNodes, deadline: limits.deadline)
        var roots: [PickleNode] = []
        do {
            repeat {
                roots.append(try walker.run())
                walker.stack.removeAll()
                walker.marks.removeAll()
            } while walker.i < bytes.count && roots.count < 64 && bytes[walker.i] == 0x80
        } catch {
            add(
                "file-type",
                .likely,
                "\(place) byte \(error.offset)",
                "a pickle the gate cannot read in full (\(error.reason)): what was read before is checked"
            )
            roots += walker.stack.filter { if case .mark = $0.kind { false } else { true } }
        }
        if roots.isEmpty { return }
        if walker.i < bytes.count, walker.stack.isEmpty, roots.count < 64 || walker.i < bytes.count {
            let rest = Array(bytes[walker.i...])
            if rest.contains(where: { $0 != 0 }) {
                nested(name: "trailing.txt", bytes: rest, place: "\(place) bytes after the pickle")
            }
        }
        var visited: Set<ObjectIdentifier> = []
        var steps = 0
        for root in roots { visit(root, place: place, path: "", depth: 0, visited: &visited, steps: &steps) }
    }

    mutating func visit(
        _ node: PickleNode,
        place: String,
        path: String,
        depth: Int,
        visited: inout Set<ObjectIdentifier>,
        steps: inout Int
    ) {
        guard depth < 200, visited.insert(ObjectIdentifier(node)).inserted else { return }
        steps += 1
        if steps & 1023 == 1, outOfTime { return timeUp(place) }
        let here = path.isEmpty ? place : "\(place) \(path)"
        if let array = PickleArrays.array(node) {
            checkArray(array, place: here)
            // Object arrays can hold estimators (gradient boosting): they are walked too.
            if case .call = node.kind, let raw = node.state?.items.last, array.objects != nil {
                for (k, item) in raw.items.enumerated() {
                    visit(item, place: place, path: "\(path)[\(k)]", depth: depth + 1, visited: &visited, steps: &steps)
                }
            }
            return
        }
        switch node.kind {
        case .string, .bytes:
            if let text = PickleArrays.text(node) {
                if text.count >= 4 { checkCells([text], place: here, text: true) }
            } else if case .bytes(let b) = node.kind, b.count >= 8 {
                let payload = Array(b)
                if payload.starts(with: NumpyArray.magic) || payload.starts(with: ZipReader.localMagic)
                    || (payload[0] == 0x80 && (2...5).contains(payload[1]))
                    || Compression.sniff(payload, ext: "") != nil
                {
                    nested(name: "bytes", bytes: payload, place: here)
                }
            }
        case .int(let v) where v.magnitude >= 100_000:
            checkCells([String(v)], place: here, text: false)
        case .list, .tuple, .set:
            let scalars = node.items.compactMap(PickleArrays.text)
            if scalars.count >= 2, scalars.count <= 64, scalars.count == node.items.count {
                record(cells: scalars, place: here, depth: 0)
            }
            for (k, item) in node.items.enumerated() {
                visit(item, place: place, path: "\(path)[\(k)]", depth: depth + 1, visited: &visited, steps: &steps)
            }
        case .dict:
            var values: [String] = []
            var k = 0
            while k + 1 < node.items.count {
                if let v = PickleArrays.text(node.items[k + 1]) { values.append(v) }
                k += 2
            }
            if values.count >= 2 && values.count <= 64 { record(cells: values, place: here, depth: 0) }
            k = 0
            while k + 1 < node.items.count {
                let key = node.items[k].string ?? "[\(k / 2)]"
                visit(node.items[k], place: place, path: path, depth: depth + 1, visited: &visited, steps: &steps)
                let child = path.isEmpty ? key : "\(path).\(key)"
                visit(node.items[k + 1], place: place, path: child, depth: depth + 1, visited: &visited, steps: &steps)
                k += 2
            }
        case .call:
            let callee = node.callee
            var childPath = path
            if let callee, path.isEmpty { childPath = callee.name }
            if let callee, callee.module.hasPrefix("pandas"), callee.name == "DataFrame",
                dataFrame(node, place: "\(place) \(childPath)")
            {
                return
            }
            if let callee, callee.module.hasPrefix("sklearn") {
                model(node, name: callee.name, module: callee.module, place: "\(place) \(childPath)")
            }
            for (k, item) in node.items.dropFirst().enumerated() {
                let p = k == 0 ? childPath : "\(childPath) kwargs"
                visit(item, place: place, path: p, depth: depth + 1, visited: &visited, steps: &steps)
            }
            if let state = node.state {
                visit(state, place: place, path: childPath, depth: depth + 1, visited: &visited, steps: &steps)
            }
        default: break
        }
    }

    /// scikit-learn estimators that keep training rows: a finding names the class and attribute (review);
    /// the rows themselves are checked against the dataset when the arrays are visited (a match blocks).
    mutating func model(_ node: PickleNode, name: String, module: String, place: String) {
        guard let state = node.state else { return }
        for attribute in Self.memorizingAttributes {
            guard let value = state[attribute], let array = PickleArrays.array(value), array.count > 0 else {
                continue
            }
            add(
                "model",
                .likely,
                "\(place).\(attribute)",
                "\(name) keeps \(array.rows) training rows of \(array.columns) features in \(attribute)"
            )
        }
        if name == "Tree", module.hasPrefix("sklearn.tree"), let nodes = state["nodes"].flatMap(PickleArrays.array),
            nodes.dtype.kind == .record
        {
            let fields = nodes.dtype.fields.map(\.name)
            guard let left = fields.firstIndex(of: "left_child"), let samples = fields.firstIndex(of: "n_node_samples")
            else { return }
            var leaves = 0
            var small = 0
            var smallest = Int.max
            for r in 0..<nodes.rows {
                guard nodes.cell(r, left) == "-1", let n = nodes.cell(r, samples).flatMap({ Int($0) }) else { continue }
                leaves += 1
                if n < index.minCellCount {
                    small += 1
                    smallest = min(smallest, n)
                }
            }
            if small > 0 {
                add(
                    "model",
                    .likely,
                    place,
                    "a decision tree with \(small) of \(leaves) leaves fitted on fewer than \(index.minCellCount) training samples (the smallest on \(smallest)): its leaves can reveal single rows"
                )
            }
        }
    }

    /// A pandas DataFrame rebuilt from its BlockManager (blocks, their column positions and the column
    /// index) and checked as a CSV table. False when it cannot be rebuilt (its arrays are then checked alone).
    mutating func dataFrame(_ node: PickleNode, place: String) -> Bool {
        var blocks: [(values: PickleNode, positions: [Int])] = []
        var indexes: [PickleNode] = []
        var seen: Set<ObjectIdentifier> = []
        var budget = 100_000
        func collect(_ n: PickleNode, inBlock: Bool) {
            budget -= 1
            guard budget > 0, seen.insert(ObjectIdentifier(n)).inserted else { return }
            if let callee = n.callee {
                if callee.name == "_unpickle_block" || callee.name == "new_block", n.arguments.count >= 2 {
                    blocks.append((n.arguments[0], Self.positions(n.arguments[1])))
                    return
                }
                if callee.name == "_new_Index", !inBlock {
                    indexes.append(n)
                    return
                }
            }
            // pandas before 2.1: {"blocks": [{"values": …, "mgr_locs": …}], "axes": […]}.
            if case .dict = n.kind, let list = n["blocks"], let axes = n["axes"] {
                for block in list.items {
                    if let values = block["values"], let locs = block["mgr_locs"] {
                        blocks.append((values, Self.positions(locs)))
                    }
                }
                for axis in axes.items { indexes.append(axis) }
                return
            }
            for item in n.items { collect(item, inBlock: inBlock) }
            if let state = n.state { collect(state, inBlock: inBlock) }
        }
        collect(node, inBlock: false)
        guard !blocks.isEmpty else { return false }
        var columns: [Int: [String?]] = [:]
        for block in blocks {
            guard let array = Self.arrayIn(block.values) else { return false }
            if array.shape.count == 2 {
                for (k, position) in block.positions.enumerated() where k < array.shape[0] {
                    columns[position] = (0..<array.shape[1]).map { array.cell(k, $0) }
                }
            } else if let position = block.positions.first {
                columns[position] = (0..<array.count).map { array.cell($0, 0) }
            }
        }
        let width = (columns.keys.max() ?? -1) + 1
        let height = columns.values.map(\.count).max() ?? 0
        var names = (0..<width).map { "column \($0)" }
        if let header = indexes.lazy.compactMap({ Self.indexValues($0) }).first(where: { $0.count == width }) {
            names = header.enumerated().map { $0.element ?? "column \($0.offset)" }
        }
        func csv(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        let chunk = 20_000
        var start = 0
        repeat {
            var text = names.map(csv).joined(separator: ",") + "\n"
            for r in start..<min(height, start + chunk) {
                text +=
                    (0..<width).map { c in csv(columns[c].flatMap { r < $0.count ? $0[r] : nil } ?? "") }
                    .joined(separator: ",") + "\n"
            }
            let label =
                height > chunk
                ? "\(place) (DataFrame rows \(start + 1)-\(min(height, start + chunk)))" : "\(place) (DataFrame)"
            guard charge(text.utf8.count, place: label) else { return true }
            nested(name: "dataframe.csv", bytes: Array(text.utf8), place: label, levels: 0)
            start += chunk
        } while start < height
        return true
    }

    /// The first array in a block's values (a numpy array, or an extension array's backing data).
    static func arrayIn(_ node: PickleNode) -> NumpyArray? {
        var seen: Set<ObjectIdentifier> = []
        var queue = [node]
        while !queue.isEmpty, seen.count < 10_000 {
            let n = queue.removeFirst()
            guard seen.insert(ObjectIdentifier(n)).inserted else { continue }
            if let array = PickleArrays.array(n) { return array }
            queue += n.items
            if let state = n.state { queue.append(state) }
        }
        return nil
    }

    /// Column positions of a block: `slice(start, stop, step)` or an integer array.
    static func positions(_ node: PickleNode) -> [Int] {
        if let callee = node.callee, callee.name == "slice" {
            let args = node.arguments.map(\.int)
            let start = (args.first ?? 0) ?? 0
            let stop = (args.count > 1 ? args[1] : nil) ?? start
            let step = max(1, (args.count > 2 ? args[2] : 1) ?? 1)
            guard stop >= start, stop - start <= 1 << 20 else { return [] }
            return Array(stride(from: start, to: stop, by: step))
        }
        if let callee = node.callee, callee.name == "BlockPlacement", let first = node.arguments.first {
            return positions(first)
        }
        if let array = arrayIn(node) { return (0..<array.count).compactMap { array.cell($0, 0).flatMap { Int($0) } } }
        return []
    }

    /// The labels of a pandas Index (`_new_Index(cls, {"data": …})`).
    static func indexValues(_ node: PickleNode) -> [String?]? {
        let data = node.arguments.count >= 2 ? node.arguments[1]["data"] : nil
        guard let data, let array = arrayIn(data) else { return nil }
        return (0..<array.count).map { array.cell($0, 0) }
    }
}
