import Foundation

/// The image checks of one file's scan: metadata text, LSB payloads, scatter marks, OCR (PNG and JPEG) and
/// SVG content. Every piece of text recovered goes back into the text checks, so identifiers, rows, canaries
/// and PII inside an image are found like anywhere else.
extension GateScan {
    /// Handles PNG, JPEG and SVG files; false for anything else.
    mutating func image(name: String, bytes: [UInt8]) -> Bool {
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            png(bytes)
            return true
        }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            jpeg(bytes)
            return true
        }
        let ext = (name as NSString).pathExtension.lowercased()
        if ext == "svg" || Self.looksLikeSVG(bytes) {
            guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else {
                add("file-type", .likely, "file", "an SVG that is not UTF-8 text: cannot inspect")
                return true
            }
            svg(text)
            return true
        }
        return false
    }

    static func looksLikeSVG(_ bytes: [UInt8]) -> Bool {
        let head = String(decoding: bytes.prefix(1024), as: UTF8.self).lowercased()
        return head.contains("<svg")
            && (head.hasPrefix("<?xml") || head.hasPrefix("<svg") || head.hasPrefix("<!doctype svg"))
    }

    // MARK: PNG

    mutating func png(_ bytes: [UInt8]) {
        let budget = max(0, min(limits.maxDecodedBytes, limits.maxExpansion * max(fileBytes, 1)) - decodedBytes)
        let file: PNGFile
        switch PNGFile.parse(bytes, maxPixels: PNGFile.defaultMaxPixels, maxTextBytes: budget) {
        case .success(let parsed): file = parsed
        case .failure(let failure):
            add("file-type", .likely, "file", "a PNG that cannot be parsed (\(failure)): cannot inspect")
            return
        }
        for chunk in file.texts {
            let place = "PNG \(chunk.type) chunk \"\(chunk.keyword)\" at byte \(chunk.offset)"
            if let text = chunk.text {
                decodedBytes += text.utf8.count
                self.text(text, prefix: place + ": ", depth: 0)
            } else {
                embeddedText(chunk.bytes[...], prefix: place)
            }
        }
        for problem in file.problems {
            add("image", .likely, "PNG \(problem.place)", problem.detail)
        }
        if !file.trailing.isEmpty { embeddedText(file.trailing[...], prefix: "PNG bytes after IEND") }
        guard let image = file.image else { return }
        lsb(image)
        marks(image)
        ocr(image.width * image.height <= limits.ocr.maxPixels ? Self.ocrInput(image) : nil, format: "PNG")
    }

    /// The pixels tesseract reads: small images scaled up twice (nearest neighbour), so chart text of
    /// 8–10 px is large enough to recognize, written as a fresh PNG.
    static func ocrInput(_ image: GateImage) -> [UInt8] {
        guard image.width * image.height <= 2_000_000 else { return image.png() }
        let w = image.width * 2
        let h = image.height * 2
        var samples = [UInt8](repeating: 0, count: w * h * image.channels)
        for y in 0..<h {
            for x in 0..<w {
                let source = ((y / 2) * image.width + x / 2) * image.channels
                let target = (y * w + x) * image.channels
                for c in 0..<image.channels { samples[target + c] = image.samples[source + c] }
            }
        }
        return GateImage(width: w, height: h, channels: image.channels, samples: samples).png()
    }

    // MARK: JPEG

    mutating func jpeg(_ bytes: [UInt8]) {
        guard let file = JPEGSegments.parse(bytes) else {
            add("file-type", .likely, "file", "a JPEG that cannot be parsed: cannot inspect")
            return
        }
        for segment in file.segments {
            let place = "JPEG \(segment.name) segment at byte \(segment.offset)"
            let xmp = Array("http://ns.adobe.com/xap/1.0/\u{0}".utf8)
            if segment.name == "COM" {
                self.text(String(decoding: segment.payload, as: UTF8.self), prefix: place + ": ", depth: 0)
            } else if segment.payload.starts(with: xmp) {
                let body = String(decoding: segment.payload.dropFirst(xmp.count), as: UTF8.self)
                self.text(body, prefix: place + " (XMP): ", depth: 0)
            } else {
                embeddedText(segment.payload[...], prefix: place)
            }
        }
        for problem in file.problems {
            add("image", .likely, "JPEG \(problem.place)", problem.detail)
        }
        if !file.trailing.isEmpty { embeddedText(file.trailing[...], prefix: "JPEG bytes after the end marker") }
        let pixels = file.width * file.height
        if pixels == 0 || pixels > limits.ocr.maxPixels {
            add(
                "ocr",
                .likely,
                "file",
                "a JPEG frame of \(file.width) x \(file.height) pixels: not read by OCR (over the cap or no frame)"
            )
            ocr(nil, format: "JPEG")
        } else {
            ocr(bytes, format: "JPEG")
        }
    }

    // MARK: Text inside binary payloads

    /// Runs of 4 or more printable ASCII characters in a binary payload (EXIF, ICC,
    /// vendor chunks, trailing bytes), each checked as text.
    mutating func embeddedText(_ bytes: ArraySlice<UInt8>, prefix: String, minLength: Int = 4) {
        for run in Self.printableRuns(bytes, minLength: minLength) {
            decodedBytes += run.text.utf8.count
            guard decodedBytes <= limits.maxDecodedBytes else {
                add("encoded", .likely, prefix, "decoding budget exhausted: the rest of the payloads are not inspected")
                return
            }
            self.text(run.text, prefix: "\(prefix), byte \(run.offset): ", depth: 0)
        }
    }

    /// Printable runs of at least `minLength` characters, with their offsets in `bytes`.
    static func printableRuns(_ bytes: ArraySlice<UInt8>, minLength: Int) -> [(offset: Int, text: String)] {
        var runs: [(offset: Int, text: String)] = []
        bytes.withUnsafeBufferPointer { b in
            var start = -1
            var i = 0
            let n = b.count
            while i < n {
                let c = b[i]
                var width = 0
                if (c >= 0x20 && c <= 0x7E) || c == 0x09 || c == 0x0A || c == 0x0D {
                    width = 1
                }
                if width == 0 {
                    if start >= 0, i - start >= minLength {
                        runs.append(
                            (start, String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
                        )
                    }
                    start = -1
                    i += 1
                } else {
                    if start < 0 { start = i }
                    i += width
                }
            }
            if start >= 0, n - start >= minLength {
                runs.append((start, String(decoding: UnsafeBufferPointer(rebasing: b[start..<n]), as: UTF8.self)))
            }
        }
        return runs
    }

    // MARK: OCR

    /// Text rendered as pixels: tesseract reads the image in its sandbox and the text goes through the checks.
    /// A missing tesseract (or bubblewrap) sends the image to review and names the tool in the report.
    mutating func ocr(_ input: [UInt8]?, format: String) {
        let config = limits.ocr
        if let missing = config.missingTool {
            let finding = GateFinding(
                check: "ocr",
                severity: .likely,
                where: "file",
                detail:
                    "\(missing) is not installed: text rendered in this \(format) image was not read (OCR); a reviewer must look",
                unavailableTool: missing
            )
            if seen.insert("ocr-unavailable").inserted { findings.append(finding) }
            return
        }
        guard let input else { return }
        switch config.read(input) {
        case .success(let text):
            decodedBytes += text.utf8.count
            self.text(text, prefix: "OCR text: ", depth: 0)
        case .failure(.timedOut):
            add("ocr", .likely, "file", "OCR did not finish within \(Int(config.timeoutSeconds)) s: text not read")
        case .failure(.unavailable(let tool)):
            add("ocr", .likely, "file", "\(tool) is not installed: text not read")
        case .failure(.failed(let why)):
            add("ocr", .likely, "file", "OCR failed (\(why)): text rendered in the image was not read")
        }
    }
}
