import Foundation
import Testing

@testable import ComputingPlane

/// The Output Gate's image checks, piece by piece: PNG chunks and pixels, JPEG segments, LSB payloads,
/// scatter marks, SVG, the re-encoded copy, the OCR sandbox and the missing-tool report; every parser fuzzed
/// with truncated and mutated files.
@Suite struct GateImagesTests {
    static let index = OutputGateTests.index
    static let people = OutputGateTests.people
    /// OCR off (missing) unless a test turns it on, so pixel checks are measured alone.
    static let noOCR: GateLimits = {
        var limits = GateLimits()
        limits.ocr = GateOCR(tesseract: nil, bubblewrap: nil)
        return limits
    }()

    static func check(_ name: String, _ bytes: [UInt8], limits: GateLimits = noOCR) -> GateFileVerdict {
        OutputGate.checkFile(path: name, bytes: bytes, index: index, limits: limits)
    }

    /// Findings other than the OCR-unavailable one.
    static func others(_ verdict: GateFileVerdict) -> [GateFinding] {
        verdict.findings.filter { $0.unavailableTool == nil }
    }

    /// A chart-like RGB image: white, with a few flat colored bars and a dark axis.
    static func chart(width: Int = 320, height: Int = 240) -> GateImage {
        var samples = [UInt8](repeating: 255, count: width * height * 3)
        func fill(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ rgb: [UInt8]) {
            for y in y0..<y1 {
                for x in x0..<x1 { for c in 0..<3 { samples[(y * width + x) * 3 + c] = rgb[c] } }
            }
        }
        fill(30, 20, 32, height - 20, [0, 0, 0])
        fill(30, height - 22, width - 10, height - 20, [0, 0, 0])
        for (i, h) in [0.5, 0.33, 0.66, 0.25].enumerated() {
            let left = 40 + i * (width - 50) / 4
            fill(
                left,
                height - 22 - Int(h * Double(height - 44)),
                left + (width - 50) / 6,
                height - 22,
                [31, 119, 180]
            )
        }
        return GateImage(width: width, height: height, channels: 3, samples: samples)
    }

    /// Inserts chunks before IEND (and bytes after it).
    static func withChunks(_ png: [UInt8], _ chunks: [(String, [UInt8])], trailing: [UInt8] = []) -> [UInt8] {
        var out = Array(png.dropLast(12))
        for (type, data) in chunks { PNGFile.appendChunk(&out, type, data) }
        PNGFile.appendChunk(&out, "IEND", [])
        return out + trailing
    }

    static func row(_ p: OutputGateTests.Person) -> String {
        "\(p.id),\(p.name),\(p.email),\(p.birth),\(p.postcode),\(p.income),\(p.region)"
    }

    // MARK: PNG

    @Test func pngTextChunksAreDecodedAndARowInThemBlocks() {
        let base = Self.chart().png()
        #expect(Self.others(Self.check("c.png", base)).isEmpty)
        let p = Self.people[7]
        let key = Array("Comment".utf8) + [0]
        let cases: [(String, [UInt8])] = [
            ("tEXt", key + Array(Self.row(p).utf8)),
            ("zTXt", key + [0] + BoundedInflate.deflate(Array(Self.row(p).utf8))),
            (
                "iTXt",
                key + [1, 0] + Array("en".utf8) + [0] + Array("Comment".utf8) + [0]
                    + BoundedInflate.deflate(Array("analyst: \(p.name)".utf8))
            ),
            ("eXIf", [0x4D, 0x4D, 0, 42, 0, 0, 0, 8] + Array("who=\(p.email);".utf8)),
            ("prVt", Array("\(p.id) \(p.name)".utf8)),
        ]
        for (type, data) in cases {
            let verdict = Self.check("c.png", Self.withChunks(base, [(type, data)]))
            #expect(verdict.decision == .block, "\(type)")
            #expect(verdict.findings.contains { $0.`where`.hasPrefix("PNG \(type) chunk") }, "\(type)")
        }
        // Benign text (matplotlib's Software key) is read and released.
        let software = Array("Software".utf8) + [0] + Array("Matplotlib version3.11.2, https://matplotlib.org/".utf8)
        #expect(Self.others(Self.check("c.png", Self.withChunks(base, [("tEXt", software)]))).isEmpty)
    }

    @Test func bytesAfterIENDAndABadCRCGoToReviewAndTheirTextIsRead() {
        let base = Self.chart().png()
        let trailing = Self.check("c.png", Self.withChunks(base, [], trailing: Array("abcdefgh".utf8)))
        #expect(trailing.decision == .review)
        #expect(trailing.findings.contains { $0.detail.contains("after the IEND") })
        let leak = Self.check("c.png", Self.withChunks(base, [], trailing: Array(Self.people[3].name.utf8)))
        #expect(leak.decision == .block)
        var bad = Self.withChunks(base, [("tEXt", Array("k\u{0}v".utf8))])
        bad[bad.count - 14] ^= 0xFF  // the tEXt chunk's CRC
        let verdict = Self.check("c.png", bad)
        #expect(verdict.decision == .review)
        #expect(verdict.findings.contains { $0.detail.contains("CRC") })
    }

    /// Filters each row with the given filter type, as an encoder would.
    static func filtered(_ image: GateImage, filters: [UInt8]) -> [UInt8] {
        let rowBytes = image.width * image.channels
        let bpp = image.channels
        var out: [UInt8] = []
        for y in 0..<image.height {
            let f = filters[y % filters.count]
            out.append(f)
            for i in 0..<rowBytes {
                let x = image.samples[y * rowBytes + i]
                let a = i >= bpp ? image.samples[y * rowBytes + i - bpp] : 0
                let b = y > 0 ? image.samples[(y - 1) * rowBytes + i] : 0
                let c = (i >= bpp && y > 0) ? image.samples[(y - 1) * rowBytes + i - bpp] : 0
                let predictor: UInt8
                switch f {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = UInt8((Int(a) + Int(b)) / 2)
                default:
                    let p = Int(a) + Int(b) - Int(c)
                    let pa = abs(p - Int(a))
                    let pb = abs(p - Int(b))
                    let pc = abs(p - Int(c))
                    predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                }
                out.append(x &- predictor)
            }
        }
        return out
    }

    /// A tEXt chunk (keyword, NUL, text) with its CRC.
    static func textChunk(_ keyword: String, _ text: String) -> [UInt8] {
        var out: [UInt8] = []
        PNGFile.appendChunk(&out, "tEXt", Array(keyword.utf8) + [0] + Array(text.utf8))
        return out
    }

    static func png(
        width: Int,
        height: Int,
        depth: UInt8,
        colorType: UInt8,
        raw: [UInt8],
        plte: [UInt8]? = nil
    )
        -> [UInt8]
    {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        PNGFile.appendChunk(
            &out,
            "IHDR",
            PNGFile.bigEndian(UInt32(width)) + PNGFile.bigEndian(UInt32(height)) + [depth, colorType, 0, 0, 0]
        )
        if let plte { PNGFile.appendChunk(&out, "PLTE", plte) }
        PNGFile.appendChunk(&out, "IDAT", BoundedInflate.deflate(raw))
        PNGFile.appendChunk(&out, "IEND", [])
        return out
    }

    @Test func everyFilterTypeAndPixelFormatDecodesToTheSamePixels() throws {
        var r = OutputGateTests.Rand(state: 11)
        for channels in [1, 2, 3, 4] {
            let image = GateImage(
                width: 17,
                height: 9,
                channels: channels,
                samples: (0..<(17 * 9 * channels)).map { _ in UInt8(r.next(256)) }
            )
            let raw = Self.filtered(image, filters: [0, 1, 2, 3, 4])
            let bytes = Self.png(width: 17, height: 9, depth: 8, colorType: [0, 4, 2, 6][channels - 1], raw: raw)
            let file = try PNGFile.parse(bytes, maxPixels: 1000, maxTextBytes: 1000).get()
            #expect(file.image == image, "channels \(channels)")
        }
        // A 2-bit palette image expands to RGB.
        let plte: [UInt8] = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]
        let raw: [UInt8] = [0, 0b0001_1011, 0b0000_0000]  // one row, 5 pixels: 0 1 2 3 0 (+pad)
        let file = try PNGFile.parse(
            Self.png(width: 5, height: 1, depth: 2, colorType: 3, raw: raw, plte: plte),
            maxPixels: 100,
            maxTextBytes: 100
        ).get()
        #expect(file.image?.samples == [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0])
        // 1-bit gray scales to 0/255.
        let gray = try PNGFile.parse(
            Self.png(width: 3, height: 1, depth: 1, colorType: 0, raw: [0, 0b1010_0000]),
            maxPixels: 100,
            maxTextBytes: 100
        ).get()
        #expect(gray.image?.samples == [255, 0, 255])
    }

    @Test func oversizedSixteenBitAndInterlacedPNGsGoToReviewWithTheReason() {
        let huge = Self.png(width: 100_000, height: 100_000, depth: 8, colorType: 2, raw: [0])
        let verdict = Self.check("h.png", huge)
        #expect(verdict.decision == .review)
        #expect(verdict.findings.contains { $0.detail.contains("over the cap") })
        let sixteen = Self.png(width: 2, height: 2, depth: 16, colorType: 0, raw: [UInt8](repeating: 0, count: 10))
        #expect(Self.check("s.png", sixteen).findings.contains { $0.detail.contains("16-bit") })
        var interlaced = Self.png(width: 2, height: 2, depth: 8, colorType: 0, raw: [0, 1, 2, 0, 3, 4])
        interlaced[28] = 1  // IHDR interlace byte
        let ihdr = Array(interlaced[12..<29])
        interlaced.replaceSubrange(29..<33, with: PNGFile.bigEndian(PNGFile.crc(ihdr[...])))
        #expect(Self.check("i.png", interlaced).findings.contains { $0.detail.contains("interlaced") })
        // A zlib bomb in IDAT stops at the expected size.
        let bomb = Self.png(width: 10, height: 10, depth: 8, colorType: 0, raw: [UInt8](repeating: 0, count: 50 << 20))
        #expect(Self.check("b.png", bomb).findings.contains { $0.check == "image" })
    }

    // MARK: Re-encoded copy

    @Test func theReencodedCopyHasThePixelsAndNoMetadataAndPythonReadsIt() throws {
        let image = Self.chart(width: 64, height: 48)
        let dirty = Self.withChunks(
            image.png(),
            [("tEXt", Array("Comment\u{0}secret".utf8)), ("eXIf", Array("MM\u{0}*xyz".utf8))],
            trailing: Array("tail".utf8)
        )
        let clean = try #require(GateImage.reencode(dirty))
        #expect(clean.firstRange(of: Array("tEXt".utf8)) == nil)
        #expect(clean.firstRange(of: Array("eXIf".utf8)) == nil)
        #expect(clean.firstRange(of: Array("secret".utf8)) == nil)
        #expect(Array(clean.suffix(8)) == Array("IEND".utf8) + [0xAE, 0x42, 0x60, 0x82])
        #expect(try PNGFile.parse(clean, maxPixels: 10_000, maxTextBytes: 10).get().image == image)
        #expect(GateImage.reencode(Array("not a png".utf8)) == nil)
        // An independent reader (Python's zlib and struct) sees the chunk list and the pixels.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gate-reencode-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(clean).write(to: URL(fileURLWithPath: dir + "/c.png"))
        let script = """
            import struct, sys, zlib
            b = open(sys.argv[1], 'rb').read()
            assert b[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
            i, types, idat = 8, [], b''
            while i < len(b):
                n, t = struct.unpack('>I4s', b[i:i+8]); d = b[i+8:i+8+n]
                assert zlib.crc32(t + d) == struct.unpack('>I', b[i+8+n:i+12+n])[0]
                types.append(t.decode()); i += 12 + n
                if t == b'IHDR': w, h, depth, ct = struct.unpack('>IIBB', d[:10])
                if t == b'IDAT': idat += d
            raw = zlib.decompress(idat)
            assert all(raw[y * (w * 3 + 1)] == 0 for y in range(h))
            px = b''.join(raw[y * (w * 3 + 1) + 1:(y + 1) * (w * 3 + 1)] for y in range(h))
            print(','.join(types), w, h, depth, ct, sum(px))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, dir + "/c.png"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let sum = image.samples.reduce(0) { $0 + Int($1) }
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "IHDR,IDAT,IEND 64 48 8 2 \(sum)")
    }

    // MARK: JPEG

    static func jpeg(segments: [(UInt8, [UInt8])], trailing: [UInt8] = []) -> [UInt8] {
        var out: [UInt8] = [0xFF, 0xD8]
        for (marker, payload) in segments {
            out += [0xFF, marker, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload
        }
        out += [0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0] + [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]
        return out + [0xFF, 0xD9] + trailing
    }

    @Test func jpegExifXmpAndCommentTextIsCheckedAndPixelsAreNot() {
        let p = Self.people[21]
        let sof: (UInt8, [UInt8]) = (0xC0, [8, 0, 16, 0, 16, 1, 1, 0x11, 0])
        let jfif: (UInt8, [UInt8]) = (0xE0, Array("JFIF\u{0}".utf8) + [1, 1, 0, 0, 1, 0, 1, 0, 0])
        let clean = Self.jpeg(segments: [jfif, sof])
        #expect(Self.others(Self.check("p.jpg", clean)).isEmpty)
        let cases: [(UInt8, [UInt8])] = [
            (0xE1, Array("Exif\u{0}\u{0}MM\u{0}*".utf8) + [0, 0, 0, 8] + Array("\(p.name)".utf8)),
            (0xE1, Array("http://ns.adobe.com/xap/1.0/\u{0}<x:xmpmeta><dc:creator>\(p.email)</dc:creator>".utf8)),
            (0xFE, Array(Self.row(p).utf8)),
            (0xEB, Array("vendor block \(p.id)".utf8)),
        ]
        for segment in cases {
            let verdict = Self.check("p.jpg", Self.jpeg(segments: [jfif, segment, sof]))
            #expect(verdict.decision == .block, "marker \(segment.0)")
        }
        let trailing = Self.check("p.jpg", Self.jpeg(segments: [jfif, sof], trailing: Array("zzzz".utf8)))
        #expect(trailing.findings.contains { $0.detail.contains("after the end-of-image") })
    }

    // MARK: LSB

    static func embed(_ image: GateImage, _ payload: [UInt8], channels: [Int]? = nil) -> GateImage {
        var copy = image
        var bit = 0
        let total = payload.count * 8
        var p = 0
        while bit < total, p < image.width * image.height {
            for c in channels ?? Array(0..<image.channels) where bit < total {
                let value = (payload[bit / 8] >> UInt8(7 - bit % 8)) & 1
                let i = p * image.channels + c
                copy.samples[i] = (copy.samples[i] & 0xFE) | value
                bit += 1
            }
            p += 1
        }
        return copy
    }

    @Test func rowsHiddenInTheLowBitsBlockAndRandomLowBitsGoToReview() {
        let base = Self.chart()
        #expect(Self.others(Self.check("c.png", base.png())).isEmpty)
        let rows = (0..<5).map { Self.row(Self.people[100 + $0]) }.joined(separator: "\n") + "\n"
        for channels in [nil, [1]] as [[Int]?] {
            let verdict = Self.check("c.png", Self.embed(base, Array(rows.utf8), channels: channels).png())
            #expect(verdict.decision == .block)
            #expect(verdict.findings.contains { $0.`where`.hasPrefix("LSB stream") })
        }
        var r = OutputGateTests.Rand(state: 5)
        let noise = (0..<1500).map { _ in UInt8(r.next(256)) }
        let verdict = Self.check("c.png", Self.embed(base, noise).png())
        #expect(verdict.decision == .review)
        #expect(verdict.findings.contains { $0.check == "lsb" })
    }

    // MARK: Marks

    static func discs(_ n: Int, radius: Int = 3, width: Int = 400, height: Int = 300) -> GateImage {
        var image = GateImage(
            width: width,
            height: height,
            channels: 3,
            samples: [UInt8](repeating: 255, count: width * height * 3)
        )
        var r = OutputGateTests.Rand(state: UInt64(n))
        var placed: [(Int, Int)] = []
        while placed.count < n {
            let cx = 40 + r.next(width - 60)
            let cy = 10 + r.next(height - 40)
            guard placed.allSatisfy({ abs($0.0 - cx) > 2 * radius + 2 || abs($0.1 - cy) > 2 * radius + 2 }) else {
                continue
            }
            placed.append((cx, cy))
            for y in (cy - radius)...(cy + radius) {
                for x in (cx - radius)...(cx + radius)
                where (x - cx) * (x - cx) + (y - cy) * (y - cy) <= radius * radius {
                    let i = (y * width + x) * 3
                    image.samples.replaceSubrange(i..<(i + 3), with: [214, 39, 40])
                }
            }
        }
        return image
    }

    @Test func aScatterOfManyMarksIsCountedAndABarChartIsNot() throws {
        let count = try #require(PlotMarks.count(Self.discs(120)))
        #expect(count.isolated >= 100, "\(count)")
        #expect(count.estimated >= 110 && count.estimated <= 130, "\(count)")
        #expect(PlotMarks.count(Self.chart())?.estimated == 0)
        let verdict = Self.check("s.png", Self.discs(120).png())
        #expect(verdict.decision == .review)
        #expect(verdict.findings.contains { $0.check == "scatter-marks" })
        #expect(Self.others(Self.check("s.png", Self.discs(12).png())).isEmpty)
    }

    // MARK: SVG

    @Test func svgTextAttributesEntitiesAndCoordinatesAreChecked() {
        let p = Self.people[33]
        let q = Self.people[34]
        let head = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100\" height=\"100\">"
        let benign = head + "<text x=\"1\" y=\"2\">mean income by region</text><rect width=\"50\" height=\"40\"/></svg>"
        #expect(Self.check("a.svg", Array(benign.utf8)).decision == .release)
        let split =
            head + "<text><tspan>\(p.birth)</tspan><tspan>\(p.postcode)</tspan><tspan>\(p.income)</tspan></text></svg>"
        #expect(Self.check("a.svg", Array(split.utf8)).decision == .block)
        let encoded = p.name.unicodeScalars.map { "&#\($0.value);" }.joined()
        let entity = head + "<text>\(encoded)</text></svg>"
        #expect(Self.check("a.svg", Array(entity.utf8)).decision == .block)
        let attribute = head + "<g data-birth=\"\(q.birth)\" data-pc=\"\(q.postcode)\" data-inc=\"\(q.income)\"/></svg>"
        #expect(Self.check("a.svg", Array(attribute.utf8)).decision == .block)
        // 60 circles whose coordinates are incomes and postcodes of the dataset.
        var circles = head
        for person in Self.people[200..<260] {
            circles += "<circle cx=\"\(person.income)\" cy=\"\(person.postcode)\" r=\"2\"/>"
        }
        let verdict = Self.check("a.svg", Array((circles + "</svg>").utf8))
        #expect(verdict.decision == .review)
        #expect(Set(verdict.findings.map(\.check)) == ["scatter-marks", "svg-coordinates"])
        // A DTD with entities is not expanded (a billion-laughs file stays small) and goes to review.
        let laughs = """
            <?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
            <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><svg><text>&c;&c;&c;</text></svg>
            """
        let dtd = Self.check("l.svg", Array(laughs.utf8))
        #expect(dtd.decision == .review)
        #expect(dtd.findings.contains { $0.detail.contains("internal subset") })
    }

    // MARK: OCR

    @Test func aMissingTesseractIsNamedInTheReportAndItsImagesGoToReview() throws {
        let report = OutputGate.check(
            files: [("c.png", Self.chart().png()), ("n.txt", Array("fine\n".utf8))],
            index: Self.index,
            limits: Self.noOCR
        )
        #expect(report.decision == .review)
        #expect(report.unavailable == ["tesseract"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json())) as? [String: Any])
        #expect(object["unavailable"] as? [String] == ["tesseract"])
        let file = try #require(report.files.first { $0.path == "c.png" })
        #expect(file.decision == .review)
        #expect(file.findings.map(\.check) == ["ocr"])
        #expect(file.findings[0].detail.contains("tesseract is not installed"))
        let finding = try #require((object["files"] as? [[String: Any]])?.first?["findings"] as? [[String: Any]])
        #expect(Set(finding[0].keys) == ["check", "severity", "where", "detail"])
        // With no image, nothing is unavailable and the key is absent.
        let text = OutputGate.check(files: [("n.txt", Array("fine\n".utf8))], index: Self.index, limits: Self.noOCR)
        #expect(text.unavailable == nil)
        let plain = try #require(try JSONSerialization.jsonObject(with: Data(text.json())) as? [String: Any])
        #expect(plain["unavailable"] == nil)
    }

    @Test func tesseractRunsInASandboxWithoutNetworkHomeOrWritableFiles() {
        let args = GateOCR(tesseract: "/usr/bin/tesseract", bubblewrap: "/usr/bin/bwrap").arguments(image: "/x/img")
        #expect(args.starts(with: ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent"]))
        #expect(args.contains("--clearenv"))
        #expect(!args.contains { $0.contains("home") || $0 == "--bind" || $0 == "--share-net" })
        let bind = args.firstIndex(of: "/x/img")!
        #expect(args[bind - 1] == "--ro-bind" && args[bind + 1] == "/in/image")
        #expect(Array(args.suffix(6)) == ["--", "/usr/bin/tesseract", "/in/image", "stdout", "--psm", "11"])
    }

    @Test func textRenderedInAnImageIsReadByOCRAndARowBlocks() throws {
        let ocr = GateOCR.system
        try #require(ocr.missingTool == nil, "tesseract-ocr and bubblewrap must be installed (.ci/run installs them)")
        let p = Self.people[8]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gate-ocr-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try GateImagesCorpusTests.render(
            [["file": "t.png", "kind": "table", "lines": ["\(p.id)  \(p.birth)  \(p.postcode)"], "font": 20]],
            into: dir
        )
        let bytes = try #require(FileManager.default.contents(atPath: dir + "/t.png"))
        var limits = GateLimits()
        limits.ocr = ocr
        let verdict = Self.check("t.png", Array(bytes), limits: limits)
        #expect(verdict.decision == .block, "\(verdict.findings)")
        #expect(verdict.findings.contains { $0.`where`.hasPrefix("OCR text") })
        // The same image with OCR missing: review, naming the tool.
        #expect(Self.check("t.png", Array(bytes)).decision == .review)
    }

    // MARK: Fuzzing

    @Test func truncatedAndMutatedImagesNeverCrashTheParsers() {
        let p = Self.people[2]
        let png = Self.withChunks(
            Self.embed(Self.chart(width: 120, height: 90), Array("hello world".utf8)).png(),
            [("zTXt", Array("k\u{0}\u{0}".utf8) + BoundedInflate.deflate(Array(p.name.utf8)))]
        )
        let jpeg = Self.jpeg(segments: [
            (0xE1, Array("Exif\u{0}\u{0}MM".utf8)), (0xC0, [8, 0, 4, 0, 4, 1, 1, 0x11, 0]),
        ])
        let svg = Array(
            "<?xml version=\"1.0\"?><svg><!-- c --><text x=\"1\">a &amp; &#65; b</text><circle cx=\"1\" r=\"2\"/></svg>"
                .utf8
        )
        var r = OutputGateTests.Rand(state: 99)
        for (name, bytes) in [("f.png", png), ("f.jpg", jpeg), ("f.svg", svg)] {
            for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 150)) {
                _ = Self.check(name, Array(bytes.prefix(cut)))
            }
            for _ in 0..<300 {
                var mutated = bytes
                for _ in 0..<(1 + r.next(6)) {
                    let at = r.next(mutated.count)
                    switch r.next(3) {
                    case 0: mutated[at] = UInt8(r.next(256))
                    case 1: mutated.insert(UInt8(r.next(256)), at: at)
                    default: mutated.remove(at: at)
                    }
                }
                let verdict = Self.check(name, mutated)
                #expect([.release, .review, .block].contains(verdict.decision))
                _ = GateImage.reencode(mutated)
            }
        }
    }
}
