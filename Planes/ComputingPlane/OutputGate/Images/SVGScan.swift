import Foundation

/// A bounded XML tokenizer for SVG: elements with their attributes and text, comments and CDATA as text. No
/// DTD is read and no entity is expanded beyond the five predefined ones and numeric character references;
/// nothing is fetched; scripts and foreignObject content are text like any other (never rendered or run).
struct SVGDocument: Sendable {
    struct Element: Sendable {
        var name: String
        var offset: Int
        var attributes: [(name: String, value: String)]
        /// Text directly inside the element (for `text`: every descendant's text).
        var text: String = ""
    }

    static let maxElements = 500_000
    static let maxAttributes = 256

    var elements: [Element] = []
    /// Comments, CDATA and processing instructions, decoded.
    var notes: [(offset: Int, text: String)] = []
    var problems: [(place: String, detail: String)] = []
    /// Byte ranges of geometry attribute values (path data, points, transforms): numbers only, which the PII
    /// patterns would misread as card or phone numbers; they are checked for dataset values alone.
    var geometry: [Range<Int>] = []
    static let geometryAttributes: Set<String> = ["d", "points", "transform", "viewBox", "gradientTransform"]

    static func decodeEntities(_ s: Substring) -> String {
        guard s.contains("&") else { return String(s) }
        var out = ""
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == "&", let semi = s[i...].prefix(12).firstIndex(of: ";") {
                let name = s[s.index(after: i)..<semi]
                var scalar: Unicode.Scalar?
                switch name {
                case "lt": scalar = "<"
                case "gt": scalar = ">"
                case "amp": scalar = "&"
                case "quot": scalar = "\""
                case "apos": scalar = "'"
                default:
                    if name.hasPrefix("#x") || name.hasPrefix("#X") {
                        scalar = UInt32(name.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
                    } else if name.hasPrefix("#") {
                        scalar = UInt32(name.dropFirst()).flatMap(Unicode.Scalar.init)
                    }
                }
                if let scalar {
                    out.unicodeScalars.append(scalar)
                    i = s.index(after: semi)
                    continue
                }
            }
            out.append(s[i])
            i = s.index(after: i)
        }
        return out
    }

    static func parse(_ text: String) -> SVGDocument {
        var doc = SVGDocument()
        let b = Array(text.utf8)
        var i = 0
        var open: [Int] = []  // indices of open elements
        var textOpen: [Int] = []  // open `text` elements
        func find(_ needle: String, from: Int) -> Int? {
            let n = Array(needle.utf8)
            var j = from
            while j + n.count <= b.count {
                if b[j] == n[0], Array(b[j..<(j + n.count)]) == n { return j }
                j += 1
            }
            return nil
        }
        func string(_ from: Int, _ to: Int) -> Substring {
            Substring(String(decoding: b[from..<to], as: UTF8.self))
        }
        while i < b.count {
            if b[i] != UInt8(ascii: "<") {
                let start = i
                while i < b.count, b[i] != UInt8(ascii: "<") { i += 1 }
                let chunk = decodeEntities(string(start, i))
                if !chunk.allSatisfy(\.isWhitespace) {
                    if let top = open.last { doc.elements[top].text += chunk }
                    for t in textOpen where t != open.last { doc.elements[t].text += " " + chunk }
                }
                continue
            }
            if b[i...].starts(with: Array("<!--".utf8)) {
                let end = find("-->", from: i + 4) ?? b.count
                doc.notes.append((i, decodeEntities(string(i + 4, end))))
                i = min(b.count, end + 3)
            } else if b[i...].starts(with: Array("<![CDATA[".utf8)) {
                let end = find("]]>", from: i + 9) ?? b.count
                let chunk = String(string(i + 9, end))
                if let top = open.last { doc.elements[top].text += chunk } else { doc.notes.append((i, chunk)) }
                i = min(b.count, end + 3)
            } else if b[i...].starts(with: Array("<?".utf8)) {
                let end = find("?>", from: i + 2) ?? b.count
                doc.notes.append((i, String(string(i + 2, end))))
                i = min(b.count, end + 2)
            } else if b[i...].starts(with: Array("<!".utf8)) {
                // A DOCTYPE: read past it (an internal subset in brackets included); nothing in it is used.
                var j = i + 2
                var depth = 0
                while j < b.count {
                    if b[j] == UInt8(ascii: "[") { depth += 1 }
                    if b[j] == UInt8(ascii: "]") { depth -= 1 }
                    if b[j] == UInt8(ascii: ">") && depth <= 0 { break }
                    j += 1
                }
                let body = String(string(i + 2, min(j, b.count)))
                if body.contains("[") {
                    doc.problems.append(("byte \(i)", "a DTD internal subset (declarations are not expanded)"))
                }
                doc.notes.append((i, body))
                i = min(b.count, j + 1)
            } else if b[i...].starts(with: Array("</".utf8)) {
                var j = i + 2
                while j < b.count, b[j] != UInt8(ascii: ">") { j += 1 }
                let name = string(i + 2, j).trimmingCharacters(in: .whitespaces)
                if let k = open.lastIndex(where: { doc.elements[$0].name == name }) {
                    for closed in open[k...] { textOpen.removeAll { $0 == closed } }
                    open.removeSubrange(k...)
                }
                i = min(b.count, j + 1)
            } else {
                // A start tag: name, attributes, optional "/".
                var j = i + 1
                while j < b.count, !GateText.isSeparator(b[j]), b[j] != UInt8(ascii: "/") { j += 1 }
                let name = String(string(i + 1, j))
                var element = Element(name: name, offset: i, attributes: [])
                var selfClosing = false
                while j < b.count {
                    while j < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[j]) { j += 1 }
                    guard j < b.count else { break }
                    if b[j] == UInt8(ascii: ">") {
                        j += 1
                        break
                    }
                    if b[j] == UInt8(ascii: "/") {
                        selfClosing = true
                        j += 1
                        continue
                    }
                    let nameStart = j
                    while j < b.count, b[j] != UInt8(ascii: "="), b[j] != UInt8(ascii: ">"),
                        ![0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: "/")].contains(b[j])
                    {
                        j += 1
                    }
                    let attribute = String(string(nameStart, j))
                    while j < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[j]) { j += 1 }
                    var value = ""
                    if j < b.count, b[j] == UInt8(ascii: "=") {
                        j += 1
                        while j < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[j]) { j += 1 }
                        if j < b.count, b[j] == UInt8(ascii: "\"") || b[j] == UInt8(ascii: "'") {
                            let quote = b[j]
                            let start = j + 1
                            j = start
                            while j < b.count, b[j] != quote { j += 1 }
                            value = decodeEntities(string(start, j))
                            if geometryAttributes.contains(attribute) { doc.geometry.append(start..<j) }
                            j = min(b.count, j + 1)
                        } else {
                            let start = j
                            while j < b.count, ![0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ">")].contains(b[j]) { j += 1 }
                            value = decodeEntities(string(start, j))
                        }
                    }
                    if attribute.isEmpty {
                        j += 1
                        continue
                    }
                    if element.attributes.count < maxAttributes { element.attributes.append((attribute, value)) }
                }
                i = j
                guard doc.elements.count < maxElements else {
                    doc.problems.append(
                        ("byte \(element.offset)", "more than \(maxElements) elements: the rest is not read")
                    )
                    return doc
                }
                doc.elements.append(element)
                if !selfClosing {
                    open.append(doc.elements.count - 1)
                    if name == "text" { textOpen.append(doc.elements.count - 1) }
                }
            }
        }
        return doc
    }
}

extension GateScan {
    mutating func svg(_ source: String) {
        let doc = SVGDocument.parse(source)
        // The file as text: values anywhere (text, attributes, comments, declarations), with path data and
        // transforms blanked (same offsets) and checked only for dataset values.
        var blanked = Array(source.utf8)
        for range in doc.geometry {
            let value = String(decoding: blanked[range], as: UTF8.self)
            for token in GateText.tokens(Substring(value)) {
                let h = GateText.hash(GateText.normalize(token.text))
                if let source = index.identifiers[h] {
                    add(
                        "identifier",
                        .certain,
                        "SVG byte \(range.lowerBound + token.offset)",
                        "a value of \(index.describe(source)) of the dataset"
                    )
                }
            }
            for i in range where blanked[i] != 0x0A { blanked[i] = 0x20 }
        }
        self.text(String(decoding: blanked, as: UTF8.self), prefix: "", depth: 0)
        for problem in doc.problems { add("image", .likely, "SVG \(problem.place)", problem.detail) }
        let raw = Array(source.utf8)
        var markGroups: [String: [(x: String, y: String)]] = [:]
        for (number, element) in doc.elements.enumerated() {
            let place = "SVG element \(number + 1) <\(element.name)> at byte \(element.offset)"
            let values = element.attributes.map(\.value) + (element.text.isEmpty ? [] : [element.text])
            // Text hidden by entities (or split across tspans) is checked after decoding.
            let span = raw[element.offset..<min(raw.count, element.offset + 4096)]
            if span.contains(UInt8(ascii: "&")) || element.name == "text" {
                for value in values { self.text(value, prefix: place + ": ", depth: 0) }
            }
            if values.count >= 2 { record(cells: values, place: place, depth: 0) }
            if let mark = Self.mark(element) { markGroups[mark.key, default: []].append((mark.x, mark.y)) }
        }
        for note in doc.notes where note.text.contains("&") {
            self.text(note.text, prefix: "SVG at byte \(note.offset): ", depth: 0)
        }
        guard let (shape, marks) = markGroups.max(by: { $0.value.count < $1.value.count }) else { return }
        if marks.count >= recordMarks {
            add(
                "scatter-marks",
                .likely,
                "SVG",
                "\(marks.count) marks of one shape (\(shape)): a plot of individual records? (the dataset has "
                    + "\(index.rowCount) rows; \(recordMarks) or more marks read as one mark per record)"
            )
        }
        // Coordinates that are values of the dataset (written untransformed).
        var hits = 0
        for mark in marks {
            let x = GateText.hash(GateText.normalize(mark.x))
            let y = GateText.hash(GateText.normalize(mark.y))
            if index.recordValues.contains(x) || index.identifiers[x] != nil { hits += 1 }
            if index.recordValues.contains(y) || index.identifiers[y] != nil { hits += 1 }
        }
        if marks.count >= 10, hits * 2 >= marks.count {
            add(
                "svg-coordinates",
                .likely,
                "SVG",
                "\(hits) mark coordinates of \(marks.count) marks (\(shape)) are values of the dataset's record columns"
            )
        }
    }

    /// A mark: a circle, ellipse, `use` of a symbol, or a small rect, with its position.
    static func mark(_ element: SVGDocument.Element) -> (key: String, x: String, y: String)? {
        func attribute(_ name: String) -> String? { element.attributes.first { $0.name == name }?.value }
        switch element.name {
        case "circle", "ellipse":
            let size = attribute("r") ?? ((attribute("rx") ?? "") + "x" + (attribute("ry") ?? ""))
            return ("\(element.name) r=\(size)", attribute("cx") ?? "0", attribute("cy") ?? "0")
        case "use":
            // Text glyphs are `use` elements placed by a transform; marks and ticks have x and y.
            guard attribute("x") != nil || attribute("y") != nil else { return nil }
            let ref = attribute("xlink:href") ?? attribute("href") ?? ""
            return ("use \(ref)", attribute("x") ?? "0", attribute("y") ?? "0")
        case "rect":
            guard let w = Double(attribute("width") ?? ""), let h = Double(attribute("height") ?? ""), w <= 20, h <= 20
            else { return nil }
            return ("rect \(w)x\(h)", attribute("x") ?? "0", attribute("y") ?? "0")
        default:
            return nil
        }
    }
}
