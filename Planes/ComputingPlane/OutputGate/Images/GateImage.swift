import CCompression

/// Decoded pixels of an output image: 8-bit samples, row-major, `channels` per pixel (1 gray, 2 gray+alpha,
/// 3 RGB, 4 RGBA; palettes are expanded to RGB). Produced only by the bounded PNG decoder.
public struct GateImage: Sendable, Hashable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// Samples per pixel (1–4).
    public var channels: Int
    /// `width * height * channels` samples.
    public var samples: [UInt8]

    /// The sample of channel `c` at `(x, y)`.
    func sample(_ x: Int, _ y: Int, _ c: Int) -> UInt8 { samples[(y * width + x) * channels + c] }

    /// A fresh PNG of these pixels: IHDR, one IDAT, IEND and nothing else (no text, EXIF or private chunks,
    /// no bytes after IEND).
    public func png() -> [UInt8] {
        let colorType: UInt8 = [0, 0, 4, 2, 6][channels]
        var raw: [UInt8] = []
        raw.reserveCapacity(height * (width * channels + 1))
        let rowBytes = width * channels
        for y in 0..<height {
            raw.append(0)
            raw += samples[(y * rowBytes)..<((y + 1) * rowBytes)]
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        header += PNGFile.bigEndian(UInt32(width))
        header += PNGFile.bigEndian(UInt32(height))
        header += [8, colorType, 0, 0, 0]
        PNGFile.appendChunk(&out, "IHDR", header)
        PNGFile.appendChunk(&out, "IDAT", BoundedInflate.deflate(raw))
        PNGFile.appendChunk(&out, "IEND", [])
        return out
    }

    /// The re-encoded copy reviewers are shown: the PNG's pixels decoded (within `maxPixels`) and written as a
    /// fresh PNG with no metadata and no trailing bytes. nil when the bytes are not a PNG this decoder reads
    /// (JPEG, 16-bit or interlaced PNG, corrupt or over the cap): the review page then shows no image.
    public static func reencode(_ bytes: [UInt8], maxPixels: Int = PNGFile.defaultMaxPixels) -> [UInt8]? {
        guard case .success(let file) = PNGFile.parse(bytes, maxPixels: maxPixels, maxTextBytes: 1 << 20),
            let image = file.image
        else { return nil }
        return image.png()
    }
}

/// A PNG parsed chunk by chunk with every length, CRC, dimension and inflated size bounded.
public struct PNGFile: Sendable {
    /// A text-bearing chunk (tEXt, zTXt, iTXt, eXIf or an unknown ancillary chunk) and its byte offset.
    struct TextChunk: Sendable {
        var type: String
        var offset: Int
        var keyword: String
        /// Decoded text (Latin-1 for tEXt/zTXt, UTF-8 for iTXt); for eXIf and unknown chunks, the raw bytes.
        var text: String?
        var bytes: [UInt8]
    }

    /// 40 megapixels by default.
    public static let defaultMaxPixels = 40_000_000
    static let maxChunks = 100_000

    var width = 0
    var height = 0
    var bitDepth: UInt8 = 0
    var colorType: UInt8 = 0
    var interlaced = false
    var texts: [TextChunk] = []
    /// Problems that send the file to review (bad CRC, trailing bytes, unsupported pixel format, …).
    var problems: [(place: String, detail: String)] = []
    /// Bytes after IEND.
    var trailing: [UInt8] = []
    var trailingOffset = 0
    /// The pixels when they were decoded.
    var image: GateImage?

    enum Failure: Error, Equatable {
        case notPNG
        case malformed(String)
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    static func readU32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    static func crc(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
    }

    static func appendChunk(_ out: inout [UInt8], _ type: String, _ data: [UInt8]) {
        out += bigEndian(UInt32(data.count))
        let body = Array(type.utf8) + data
        out += body
        out += bigEndian(crc(body[...]))
    }

    /// Parses the chunks (CRC checked), decodes the text chunks and, for 8-bit or smaller non-interlaced
    /// images of at most `maxPixels`, the pixels. A malformed structure is a failure only when no chunk could
    /// be read; later damage is recorded in `problems`.
    static func parse(_ b: [UInt8], maxPixels: Int, maxTextBytes: Int) -> Result<PNGFile, Failure> {
        guard b.count >= 8, b.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            return .failure(.notPNG)
        }
        var file = PNGFile()
        var at = 8
        var idat: [UInt8] = []
        var palette: [UInt8] = []
        var sawHeader = false
        var sawEnd = false
        var chunks = 0
        while at < b.count {
            chunks += 1
            guard chunks <= maxChunks else {
                file.problems.append(("byte \(at)", "more than \(maxChunks) chunks: the rest is not read"))
                break
            }
            guard at + 12 <= b.count else {
                file.problems.append(("byte \(at)", "a truncated chunk header"))
                break
            }
            let length = Int(readU32(b, at))
            guard length <= b.count - at - 12 else {
                file.problems.append(("byte \(at)", "a chunk of \(length) bytes runs past the end of the file"))
                break
            }
            let typeBytes = Array(b[(at + 4)..<(at + 8)])
            let type = String(decoding: typeBytes, as: UTF8.self)
            let data = Array(b[(at + 8)..<(at + 8 + length)])
            let stored = readU32(b, at + 8 + length)
            if crc(b[(at + 4)..<(at + 8 + length)]) != stored {
                file.problems.append(
                    ("chunk \(type) at byte \(at)", "the CRC does not match: a damaged or edited file")
                )
            }
            let offset = at
            at += 12 + length
            if !sawHeader && type != "IHDR" {
                return .failure(.malformed("the first chunk is \(type), expected IHDR"))
            }
            switch type {
            case "IHDR":
                guard length == 13, !sawHeader else { return .failure(.malformed("a bad IHDR chunk")) }
                sawHeader = true
                file.width = Int(readU32(data, 0))
                file.height = Int(readU32(data, 4))
                file.bitDepth = data[8]
                file.colorType = data[9]
                file.interlaced = data[12] != 0
            case "PLTE": palette = data
            case "IDAT":
                if idat.count + data.count <= max(maxPixels * 8, 1 << 20) {
                    idat += data
                } else {
                    file.problems.append(("chunk IDAT at byte \(offset)", "compressed pixel data over the cap"))
                }
            case "IEND":
                sawEnd = true
            case "tEXt", "zTXt", "iTXt":
                file.texts.append(textChunk(type, data, offset: offset, limit: maxTextBytes, problems: &file.problems))
            case "eXIf":
                file.texts.append(TextChunk(type: type, offset: offset, keyword: "EXIF", text: nil, bytes: data))
            default:
                // Critical chunks are upper case in the first letter; ancillary ones lower case. Known ancillary
                // chunks carrying no text are skipped; any other chunk's bytes are searched for text.
                let known: Set<String> = [
                    "gAMA", "cHRM", "sRGB", "iCCP", "bKGD", "pHYs", "tRNS", "sBIT", "hIST", "sPLT", "tIME",
                ]
                if !known.contains(type) {
                    file.texts.append(TextChunk(type: type, offset: offset, keyword: type, text: nil, bytes: data))
                }
            }
            if sawEnd { break }
        }
        guard sawHeader else { return .failure(.malformed("no IHDR chunk")) }
        if !sawEnd { file.problems.append(("end of file", "no IEND chunk: the file is truncated")) }
        if at < b.count {
            file.trailing = Array(b[at...])
            file.trailingOffset = at
            file.problems.append(("byte \(at)", "\(b.count - at) bytes after the IEND chunk"))
        }
        file.decodePixels(idat: idat, palette: palette, maxPixels: maxPixels)
        return .success(file)
    }

    static func latin1(_ bytes: ArraySlice<UInt8>) -> String {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    static func textChunk(
        _ type: String,
        _ data: [UInt8],
        offset: Int,
        limit: Int,
        problems: inout [(place: String, detail: String)]
    ) -> TextChunk {
        let place = "chunk \(type) at byte \(offset)"
        guard let nul = data.firstIndex(of: 0) else {
            problems.append((place, "no keyword terminator"))
            return TextChunk(type: type, offset: offset, keyword: "", text: nil, bytes: data)
        }
        let keyword = latin1(data[..<nul])
        var chunk = TextChunk(type: type, offset: offset, keyword: keyword, text: nil, bytes: data)
        func inflate(_ compressed: ArraySlice<UInt8>) -> [UInt8]? {
            switch BoundedInflate.inflate(Array(compressed), framing: .zlib, limit: limit) {
            case .success(let out): return out
            case .failure(let failure):
                problems.append((place, "compressed text could not be read in full (\(failure))"))
                return nil
            }
        }
        switch type {
        case "tEXt":
            chunk.text = latin1(data[(nul + 1)...])
        case "zTXt":
            if nul + 2 <= data.count, let out = inflate(data[(nul + 2)...]) { chunk.text = latin1(out[...]) }
        default:  // iTXt: keyword, flag, method, language\0, translated keyword\0, text
            guard nul + 3 <= data.count else {
                problems.append((place, "a truncated iTXt header"))
                return chunk
            }
            let compressed = data[nul + 1] != 0
            var i = nul + 3
            var parts: [String] = []
            for _ in 0..<2 {
                guard let end = data[i...].firstIndex(of: 0) else {
                    problems.append((place, "a truncated iTXt header"))
                    return chunk
                }
                parts.append(String(decoding: data[i..<end], as: UTF8.self))
                i = end + 1
            }
            let body = compressed ? inflate(data[i...]) : Array(data[i...])
            if let body { chunk.text = ([parts[1]] + [String(decoding: body, as: UTF8.self)]).joined(separator: "\n") }
        }
        return chunk
    }

    /// Samples per pixel before palette expansion.
    var rawChannels: Int? {
        switch colorType {
        case 0: 1
        case 2: 3
        case 3: 1
        case 4: 2
        case 6: 4
        default: nil
        }
    }

    mutating func decodePixels(idat: [UInt8], palette: [UInt8], maxPixels: Int) {
        guard let rawChannels else {
            problems.append(("IHDR", "color type \(colorType) is not a PNG color type"))
            return
        }
        let validDepth: Bool
        switch colorType {
        case 0: validDepth = [1, 2, 4, 8, 16].contains(bitDepth)
        case 3: validDepth = [1, 2, 4, 8].contains(bitDepth)
        default: validDepth = [8, 16].contains(bitDepth)
        }
        guard validDepth else {
            problems.append(("IHDR", "bit depth \(bitDepth) is invalid for color type \(colorType)"))
            return
        }
        guard width > 0, height > 0, width <= 1 << 20, height <= 1 << 20, width * height <= maxPixels else {
            problems.append(("IHDR", "\(width) x \(height) pixels: over the cap of \(maxPixels), not decoded"))
            return
        }
        guard bitDepth != 16 else {
            problems.append(("IHDR", "16-bit samples are not decoded: pixels not inspected (LSB, marks)"))
            return
        }
        guard !interlaced else {
            problems.append(("IHDR", "an interlaced (Adam7) PNG is not decoded: pixels not inspected (LSB, marks)"))
            return
        }
        let bits = Int(bitDepth) * rawChannels
        let rowBytes = (width * bits + 7) / 8
        let bpp = max(1, bits / 8)
        let expected = height * (rowBytes + 1)
        let raw: [UInt8]
        switch BoundedInflate.inflate(idat, framing: .zlib, limit: expected) {
        case .success(let out): raw = out
        case .failure(let failure):
            problems.append(("IDAT", "the pixel data does not inflate (\(failure)): pixels not inspected"))
            return
        }
        guard raw.count == expected else {
            problems.append(("IDAT", "\(raw.count) bytes of pixel data, expected \(expected): pixels not inspected"))
            return
        }
        var rows = [UInt8](repeating: 0, count: height * rowBytes)
        var previous = [UInt8](repeating: 0, count: rowBytes)
        var current = [UInt8](repeating: 0, count: rowBytes)
        for y in 0..<height {
            let base = y * (rowBytes + 1)
            let filter = raw[base]
            for i in 0..<rowBytes {
                let x = raw[base + 1 + i]
                let a = i >= bpp ? current[i - bpp] : 0
                let up = previous[i]
                let c = i >= bpp ? previous[i - bpp] : 0
                switch filter {
                case 0: current[i] = x
                case 1: current[i] = x &+ a
                case 2: current[i] = x &+ up
                case 3: current[i] = x &+ UInt8((Int(a) + Int(up)) / 2)
                case 4:
                    let p = Int(a) + Int(up) - Int(c)
                    let pa = abs(p - Int(a))
                    let pb = abs(p - Int(up))
                    let pc = abs(p - Int(c))
                    current[i] = x &+ (pa <= pb && pa <= pc ? a : (pb <= pc ? up : c))
                default:
                    problems.append(("row \(y)", "filter type \(filter) is not a PNG filter: pixels not inspected"))
                    return
                }
            }
            rows.replaceSubrange((y * rowBytes)..<((y + 1) * rowBytes), with: current)
            swap(&previous, &current)
        }
        // Unpack to 8-bit samples, expanding palettes to RGB and scaling small gray depths to 0…255.
        let outChannels = colorType == 3 ? 3 : rawChannels
        var samples = [UInt8](repeating: 0, count: width * height * outChannels)
        let depth = Int(bitDepth)
        let scale = depth < 8 ? 255 / ((1 << depth) - 1) : 1
        for y in 0..<height {
            let row = y * rowBytes
            for x in 0..<width {
                for ch in 0..<rawChannels {
                    let value: Int
                    if depth == 8 {
                        value = Int(rows[row + x * rawChannels + ch])
                    } else {
                        let bit = x * depth
                        let byte = rows[row + bit / 8]
                        value = Int(byte >> (8 - depth - bit % 8)) & ((1 << depth) - 1)
                    }
                    let out = (y * width + x) * outChannels
                    if colorType == 3 {
                        guard value * 3 + 2 < palette.count else {
                            problems.append(("PLTE", "a palette index past the palette: pixels not inspected"))
                            return
                        }
                        samples[out] = palette[value * 3]
                        samples[out + 1] = palette[value * 3 + 1]
                        samples[out + 2] = palette[value * 3 + 2]
                    } else {
                        samples[out + ch] = UInt8(value * scale)
                    }
                }
            }
        }
        image = GateImage(width: width, height: height, channels: outChannels, samples: samples)
    }
}
