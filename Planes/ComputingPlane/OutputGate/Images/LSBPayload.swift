import Foundation

/// Least-significant-bit payloads in decoded pixels. Two checks:
/// - decoding: bit streams (bit plane 0, plane 1, or both low bits; of the color channels interleaved, of all
///   channels with alpha, and of each channel alone; row-major; packed most- or least-significant bit first)
///   are read as bytes and their printable runs, and zlib streams at their start, go through the text checks, so
///   a row hidden this way blocks;
/// - structure: in a chart-like image (most neighbouring samples equal in their upper 7 bits: flat fills), the
///   low bit of flat neighbours should agree; a band of rows where it flips often, or a pairs-of-values
///   chi-square that finds the value pairs (2k, 2k+1) equalized, is an embedded payload → review.
enum LSBPayload {
    /// One bit stream's recipe.
    struct Stream: Sendable, CustomStringConvertible {
        var channels: [Int]
        var planes: [Int]
        var msbFirst: Bool
        var channelNames: [String]

        var description: String {
            let names = channels.map { channelNames[$0] }.joined(separator: ",")
            let bits = planes.count == 2 ? "bits 1-0" : "bit \(planes[0])"
            return "LSB stream (\(bits) of \(names), \(msbFirst ? "MSB" : "LSB") first)"
        }
    }

    /// Most bytes read from one stream.
    static let maxStreamBytes = 2 << 20

    static func streams(channels: Int) -> [Stream] {
        let names: [String] =
            switch channels {
            case 1: ["gray"]
            case 2: ["gray", "alpha"]
            case 3: ["R", "G", "B"]
            default: ["R", "G", "B", "A"]
            }
        let color = channels >= 3 ? [0, 1, 2] : [0]
        var sets: [[Int]] = [color]
        if channels == 2 || channels == 4 { sets.append(Array(0..<channels)) }
        if channels >= 3 { sets += color.map { [$0] } }
        var result: [Stream] = []
        for set in sets {
            for (planes, msb) in [([0], true), ([0], false), ([1, 0], true), ([1], true)] {
                result.append(Stream(channels: set, planes: planes, msbFirst: msb, channelNames: names))
            }
        }
        return result
    }

    static func extract(_ image: GateImage, _ stream: Stream) -> [UInt8] {
        let pixels = image.width * image.height
        let capacity = min(maxStreamBytes, pixels * stream.channels.count * stream.planes.count / 8)
        guard capacity > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: capacity)
        let step = image.channels
        let channels = stream.channels
        let planes = stream.planes.map { UInt8($0) }
        let msbFirst = stream.msbFirst
        image.samples.withUnsafeBufferPointer { samples in
            out.withUnsafeMutableBufferPointer { out in
                var byte: UInt8 = 0
                var count: UInt8 = 0
                var written = 0
                var base = 0
                for _ in 0..<pixels {
                    for c in channels {
                        let value = samples[base &+ c]
                        for plane in planes {
                            let bit = (value >> plane) & 1
                            byte = msbFirst ? (byte << 1 | bit) : (byte | bit << count)
                            count &+= 1
                            if count == 8 {
                                out[written] = byte
                                written &+= 1
                                if written == capacity { return }
                                byte = 0
                                count = 0
                            }
                        }
                    }
                    base &+= step
                }
            }
        }
        return out
    }

    /// The structure statistics of the color channels.
    struct Structure: Sendable {
        /// Share of horizontal neighbour pairs equal in their upper 7 bits.
        var flatShare: Double
        /// The largest rate of low-bit disagreement among flat pairs over bands of 8 rows (bands with 200+
        /// flat pairs), and where that band starts.
        var worstBandRate: Double
        var worstBandRow: Int
        /// The median band rate.
        var medianBandRate: Double
        /// Pairs-of-values chi-square over the worst band: the probability that pairs are equalized.
        var pairsP: Double
        var pairsDF: Int
    }

    static func structure(_ image: GateImage) -> Structure {
        let color = image.channels >= 3 ? [0, 1, 2] : [0]
        var flat = 0
        var total = 0
        var rates: [(rate: Double, row: Int)] = []
        let band = 8
        var y0 = 0
        while y0 < image.height {
            var bandFlat = 0
            var bandDiff = 0
            image.samples.withUnsafeBufferPointer { samples in
                for y in y0..<min(image.height, y0 + band) {
                    let row = y * image.width * image.channels
                    for c in color {
                        var previous = samples[row + c]
                        var at = row + c
                        for _ in 1..<max(image.width, 1) {
                            at &+= image.channels
                            let value = samples[at]
                            if value >> 1 == previous >> 1 {
                                bandFlat &+= 1
                                if value != previous { bandDiff &+= 1 }
                            }
                            previous = value
                        }
                    }
                }
            }
            flat += bandFlat
            total += (min(image.height, y0 + band) - y0) * max(image.width - 1, 0) * color.count
            if bandFlat >= 200 { rates.append((Double(bandDiff) / Double(bandFlat), y0)) }
            y0 += band
        }
        let worst = rates.max { $0.rate < $1.rate } ?? (0, 0)
        let sorted = rates.map(\.rate).sorted()
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        // Pairs of values in the worst band.
        var histogram = [Int](repeating: 0, count: 256)
        for y in worst.row..<min(image.height, worst.row + band) {
            let row = y * image.width * image.channels
            for x in 0..<image.width {
                for c in color { histogram[Int(image.samples[row + x * image.channels + c])] += 1 }
            }
        }
        var chi = 0.0
        var df = 0
        for k in 0..<128 {
            let a = Double(histogram[2 * k])
            let b = Double(histogram[2 * k + 1])
            let expected = (a + b) / 2
            guard expected >= 5 else { continue }
            chi += (a - expected) * (a - expected) / expected
            df += 1
        }
        return Structure(
            flatShare: total == 0 ? 0 : Double(flat) / Double(total),
            worstBandRate: worst.rate,
            worstBandRow: worst.row,
            medianBandRate: median,
            pairsP: df == 0 ? 0 : chiSquareUpperTail(chi, df: df),
            pairsDF: df
        )
    }

    /// P(X ≥ x) for a chi-square variable with `df` degrees of freedom (Wilson–Hilferty).
    static func chiSquareUpperTail(_ x: Double, df: Int) -> Double {
        let k = Double(df)
        guard x > 0 else { return 1 }
        let z = (pow(x / k, 1.0 / 3.0) - (1 - 2 / (9 * k))) / (2 / (9 * k)).squareRoot()
        return 0.5 * erfc(z / 2.0.squareRoot())
    }
}

extension GateScan {
    mutating func lsb(_ image: GateImage) {
        for stream in LSBPayload.streams(channels: image.channels) {
            let bytes = LSBPayload.extract(image, stream)
            let place = stream.description
            for offset in [0, 1, 2, 4, 8] where offset + 2 < bytes.count {
                let head = bytes[offset...]
                if head.first == 0x78, let second = head.dropFirst().first, [0x01, 0x5E, 0x9C, 0xDA].contains(second) {
                    let limit = max(0, min(limits.maxDecodedBytes - decodedBytes, 16 << 20))
                    if case .success(let out) = BoundedInflate.inflate(Array(head), framing: .zlib, limit: limit) {
                        embeddedText(out[...], prefix: place + " > zlib at byte \(offset)", minLength: 8)
                    }
                }
            }
            embeddedText(bytes[...], prefix: place, minLength: 12)
        }
        let s = LSBPayload.structure(image)
        guard s.flatShare >= 0.5 else { return }
        if s.worstBandRate >= 0.08 && s.worstBandRate >= 8 * max(s.medianBandRate, 0.001) {
            add(
                "lsb",
                .likely,
                "pixel rows \(s.worstBandRow)-\(s.worstBandRow + 7)",
                String(
                    format:
                        "the low bit of flat-colored neighbours disagrees in %.0f%% of pairs here (median band %.1f%%; pairs-of-values chi-square p = %.2f): a least-significant-bit payload",
                    s.worstBandRate * 100,
                    s.medianBandRate * 100,
                    s.pairsP
                )
            )
        }
    }
}
