import Foundation

/// The text of HTML and XML: tags stripped (table cells become tab-separated lines, block elements lines),
/// entities decoded, and the content of scripts, styles, comments and attribute values kept, since an
/// attacker can hide data in any of them.
enum MarkupText {
    static let blockTags: Set<String> = [
        "p", "div", "br", "tr", "li", "ul", "ol", "table", "thead", "tbody", "tfoot", "h1", "h2", "h3", "h4", "h5",
        "h6", "pre", "section", "article", "header", "footer", "script", "style", "title", "caption", "dd", "dt",
        "row", "si", "hr", "body", "head", "html", "blockquote", "figure", "figcaption", "svg", "g", "text",
    ]
    static let cellTags: Set<String> = ["td", "th", "c", "v"]
    static let inlineTags: Set<String> = [
        "b", "i", "em", "strong", "span", "a", "u", "small", "sup", "sub", "code",
        "font", "mark", "abbr", "t", "r",
    ]

    static func text(_ source: String) -> String {
        let s = Array(source.unicodeScalars)
        var out = String.UnicodeScalarView()
        var attributes = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "<" {
                // Comments and CDATA keep their content.
                if i + 3 < s.count, s[i + 1] == "!", s[i + 2] == "-", s[i + 3] == "-" {
                    i += 4
                    out.append("\n")
                    continue
                }
                guard let close = s[i...].firstIndex(of: ">") else {
                    out.append(contentsOf: s[i...])
                    break
                }
                let inner = s[(i + 1)..<close]
                var name = String(
                    String.UnicodeScalarView(
                        inner.drop { $0 == "/" }.prefix {
                            $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == ":"
                        }
                    )
                )
                .lowercased()
                if let colon = name.lastIndex(of: ":") { name = String(name[name.index(after: colon)...]) }
                if inner.first == "/" && cellTags.contains(name) {
                    out.append("\t")
                } else if blockTags.contains(name) {
                    out.append("\n")
                } else if !inlineTags.contains(name) && !cellTags.contains(name) {
                    out.append(" ")
                }
                // Quoted attribute values.
                var k = inner.startIndex
                while k < inner.endIndex {
                    let q = inner[k]
                    if q == "\"" || q == "'", let end = inner[(k + 1)...].firstIndex(of: q) {
                        attributes.append(contentsOf: inner[(k + 1)..<end])
                        attributes.append("\n")
                        k = end + 1
                    } else {
                        k += 1
                    }
                }
                i = close + 1
            } else if c == "-", i + 2 < s.count, s[i + 1] == "-", s[i + 2] == ">" {
                out.append("\n")
                i += 3
            } else if c == "&", let semi = s[i...].prefix(12).firstIndex(of: ";"),
                let decoded = entity(s[(i + 1)..<semi])
            {
                out.append(decoded)
                i = semi + 1
            } else {
                out.append(c)
                i += 1
            }
        }
        var text = String(out)
        if !attributes.isEmpty { text += "\n" + String(attributes) }
        return text
    }

    static func entity(_ body: ArraySlice<Unicode.Scalar>) -> Unicode.Scalar? {
        let name = String(String.UnicodeScalarView(body))
        switch name {
        case "amp": return "&"
        case "lt": return "<"
        case "gt": return ">"
        case "quot": return "\""
        case "apos": return "'"
        case "nbsp": return " "
        default:
            guard name.hasPrefix("#") else { return nil }
            let digits = name.dropFirst()
            let value =
                digits.hasPrefix("x") || digits.hasPrefix("X") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
            return value.flatMap(Unicode.Scalar.init)
        }
    }
}

extension GateScan {
    /// HTML and XML: the text content is scanned like any text.
    mutating func markup(_ source: String) {
        let text = MarkupText.text(source)
        self.text(text, prefix: "text content: ", depth: 0)
        numericChannels(name: "text content", text: text)
    }

    /// A Jupyter notebook: each cell's source and outputs (text, HTML tables, JSON, images) are checked.
    mutating func notebook(_ source: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(source.utf8)) as? [String: Any],
            let cells = object["cells"] as? [Any]
        else {
            self.text(source, prefix: "", depth: 0)
            add("file-type", .likely, "file", "a notebook that is not valid nbformat JSON: read as text only")
            return
        }
        func joined(_ value: Any?) -> String? {
            if let s = value as? String { return s }
            if let list = value as? [Any] { return list.compactMap { $0 as? String }.joined() }
            return nil
        }
        for (n, raw) in cells.enumerated() {
            guard let cell = raw as? [String: Any] else { continue }
            if outOfTime { return timeUp("cell \(n + 1)") }
            if let code = joined(cell["source"]) {
                text(code, prefix: "cell \(n + 1) source: ", depth: 0)
                numericChannels(name: "cell \(n + 1) source", text: code)
            }
            for (k, rawOutput) in ((cell["outputs"] as? [Any]) ?? []).enumerated() {
                guard let output = rawOutput as? [String: Any] else { continue }
                let place = "cell \(n + 1) output \(k + 1)"
                if let text = joined(output["text"]) {
                    self.text(text, prefix: place + ": ", depth: 0)
                    numericChannels(name: place, text: text)
                }
                if let traceback = joined(output["traceback"]) { self.text(traceback, prefix: place + ": ", depth: 0) }
                let data = (output["data"] as? [String: Any]) ?? [:]
                for key in data.keys.sorted() {
                    let value = data[key]
                    if key == "text/html", let html = joined(value) {
                        let text = MarkupText.text(html)
                        self.text(text, prefix: "\(place) html: ", depth: 0)
                    } else if key.hasPrefix("image/"), key != "image/svg+xml", let b64 = joined(value) {
                        let clean = b64.filter { !$0.isWhitespace }
                        if let bytes = Data(base64Encoded: clean).map(Array.init), charge(bytes.count, place: place) {
                            let ext = key.dropFirst("image/".count)
                            nested(name: "output.\(ext)", bytes: bytes, place: "\(place) \(key)")
                        }
                    } else if let text = joined(value) {
                        self.text(text, prefix: "\(place) \(key): ", depth: 0)
                        numericChannels(name: "\(place) \(key)", text: text)
                    } else if let object = value,
                        let json = try? JSONSerialization.data(withJSONObject: object, options: [.fragmentsAllowed])
                    {
                        nested(name: "output.json", bytes: Array(json), place: "\(place) \(key)", levels: 0)
                    }
                }
            }
        }
    }
}
