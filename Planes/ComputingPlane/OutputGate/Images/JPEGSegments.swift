/// A JPEG walked marker by marker (pixels are not decoded): the payloads that can carry text (APPn — EXIF, XMP,
/// ICC, vendor blocks —, COM), the frame size, and bytes after the end-of-image marker.
struct JPEGSegments: Sendable {
    struct Segment: Sendable {
        /// `APP1`, `COM`, …
        var name: String
        var offset: Int
        var payload: [UInt8]
    }

    static let maxSegments = 10_000

    var segments: [Segment] = []
    var width = 0
    var height = 0
    var problems: [(place: String, detail: String)] = []
    var trailing: [UInt8] = []
    var trailingOffset = 0

    static func parse(_ b: [UInt8]) -> JPEGSegments? {
        guard b.count >= 4, b[0] == 0xFF, b[1] == 0xD8 else { return nil }
        var file = JPEGSegments()
        var at = 2
        var count = 0
        var ended = false
        while at < b.count {
            count += 1
            guard count <= maxSegments else {
                file.problems.append(("byte \(at)", "more than \(maxSegments) segments: the rest is not read"))
                return file
            }
            guard b[at] == 0xFF else {
                file.problems.append(("byte \(at)", "expected a marker (0xFF), found 0x\(String(b[at], radix: 16))"))
                return file
            }
            while at < b.count, b[at] == 0xFF { at += 1 }  // fill bytes
            guard at < b.count else { break }
            let marker = b[at]
            let offset = at - 1
            at += 1
            if marker == 0xD9 {
                ended = true
                break
            }
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { continue }
            guard at + 2 <= b.count else {
                file.problems.append(("byte \(offset)", "a truncated segment header"))
                return file
            }
            let length = Int(b[at]) << 8 | Int(b[at + 1])
            guard length >= 2, at + length <= b.count else {
                file.problems.append(("byte \(offset)", "a segment of \(length) bytes runs past the end of the file"))
                return file
            }
            let payload = Array(b[(at + 2)..<(at + length)])
            at += length
            switch marker {
            case 0xE0...0xEF:
                file.segments.append(Segment(name: "APP\(marker - 0xE0)", offset: offset, payload: payload))
            case 0xFE:
                file.segments.append(Segment(name: "COM", offset: offset, payload: payload))
            case 0xC0...0xCF where marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
                if payload.count >= 5 {
                    file.height = Int(payload[1]) << 8 | Int(payload[2])
                    file.width = Int(payload[3]) << 8 | Int(payload[4])
                }
            case 0xDA:
                // Entropy-coded data runs to the next marker that is not a stuffed 0x00 or a restart marker.
                while at + 1 < b.count {
                    if b[at] == 0xFF, b[at + 1] != 0x00, !(0xD0...0xD7).contains(b[at + 1]) { break }
                    at += 1
                }
                if at + 1 >= b.count {
                    at = b.count
                }
            default:
                break
            }
        }
        if !ended {
            file.problems.append(("end of file", "no end-of-image marker: the file is truncated"))
        } else if at < b.count {
            file.trailing = Array(b[at...])
            file.trailingOffset = at
            file.problems.append(("byte \(at)", "\(b.count - at) bytes after the end-of-image marker"))
        }
        return file
    }
}
