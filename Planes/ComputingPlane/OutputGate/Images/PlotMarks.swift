/// Scatter plots with about one mark per record: marks are counted as connected components of non-background
/// pixels. The background is the most common color; a mark is a small compact blob (3–24 px a side, aspect ≤ 2,
/// at least half filled, its center filled — ring glyphs such as "0" are not marks); the marks are the largest group of blobs with one size, and clusters of overlapping
/// marks (compact components up to a quarter of the image a side) add their area divided by one mark's area.
/// Lines, bars and histograms are long or large components; text glyphs come in many sizes and shapes.
enum PlotMarks {
    struct Count: Sendable, Equatable {
        /// Isolated marks of the modal size.
        var isolated: Int
        /// Isolated marks plus the estimate for overlapping clusters.
        var estimated: Int
    }

    static let maxPixels = 25_000_000

    static func count(_ image: GateImage) -> Count? {
        let w = image.width
        let h = image.height
        guard w >= 16, h >= 16, w * h <= maxPixels else { return nil }
        let ch = image.channels
        struct Blob {
            var area: Int
            var width: Int
            var height: Int
            /// The bounding box's center pixel is part of the blob: a filled mark, not a ring glyph ("0", "o").
            var filledCenter: Bool
        }
        var blobs: [Blob] = []
        image.samples.withUnsafeBufferPointer { samples in
            func color(_ p: Int) -> UInt32 {
                let b = p &* ch
                if ch >= 3 { return UInt32(samples[b]) << 16 | UInt32(samples[b + 1]) << 8 | UInt32(samples[b + 2]) }
                return UInt32(samples[b]) &* 0x010101
            }
            var histogram: [UInt32: Int] = [:]
            var p = 0
            while p < w * h {
                histogram[color(p), default: 0] += 1
                p += 7
            }
            guard let background = histogram.max(by: { $0.value < $1.value })?.key else { return }
            let br = Int(background >> 16)
            let bg = Int((background >> 8) & 0xFF)
            let bb = Int(background & 0xFF)
            // visited: background, transparent or already labelled.
            var visited = [Bool](repeating: true, count: w * h)
            visited.withUnsafeMutableBufferPointer { visited in
                for p in 0..<(w * h) {
                    let c = color(p)
                    let distance = abs(Int(c >> 16) - br) + abs(Int((c >> 8) & 0xFF) - bg) + abs(Int(c & 0xFF) - bb)
                    let transparent = (ch == 4 || ch == 2) && samples[p * ch + ch - 1] < 32
                    visited[p] = !(distance > 60 && !transparent)
                }
                var stack: [Int] = []
                for start in 0..<(w * h) where !visited[start] {
                    visited[start] = true
                    stack.append(start)
                    var area = 0
                    var minX = w
                    var maxX = 0
                    var minY = h
                    var maxY = 0
                    while let q = stack.popLast() {
                        area += 1
                        let x = q % w
                        let y = q / w
                        minX = min(minX, x)
                        maxX = max(maxX, x)
                        minY = min(minY, y)
                        maxY = max(maxY, y)
                        for dy in -1...1 {
                            let ny = y + dy
                            guard ny >= 0, ny < h else { continue }
                            for dx in -1...1 {
                                let nx = x + dx
                                guard nx >= 0, nx < w else { continue }
                                let n = ny * w + nx
                                if !visited[n] {
                                    visited[n] = true
                                    stack.append(n)
                                }
                            }
                        }
                    }
                    let center = color(((minY + maxY) / 2) * w + (minX + maxX) / 2)
                    let centerDistance =
                        abs(Int(center >> 16) - br) + abs(Int((center >> 8) & 0xFF) - bg) + abs(Int(center & 0xFF) - bb)
                    blobs.append(
                        Blob(
                            area: area,
                            width: maxX - minX + 1,
                            height: maxY - minY + 1,
                            filledCenter: centerDistance > 60
                        )
                    )
                    if blobs.count > 1_000_000 { return }
                }
            }
        }
        func compact(_ b: Blob) -> Bool {
            let small = min(b.width, b.height)
            let large = max(b.width, b.height)
            return small >= 3 && large <= 24 && large <= 2 * small && b.area * 2 >= b.width * b.height
                && b.filledCenter
        }
        var groups: [Int: [Int]] = [:]
        for b in blobs where compact(b) { groups[b.width << 16 | b.height, default: []].append(b.area) }
        guard let modal = groups.max(by: { $0.value.count < $1.value.count }), modal.value.count >= 5 else {
            return Count(isolated: 0, estimated: 0)
        }
        let areas = modal.value.sorted()
        let unit = max(1, areas[areas.count / 2])
        let mw = modal.key >> 16
        let mh = modal.key & 0xFFFF
        var estimated = modal.value.count
        for b in blobs where !(b.width == mw && b.height == mh) {
            // Clusters of overlapping marks: larger than one mark, compact enough, not a line or a bar.
            guard b.area > unit * 3 / 2, b.width <= w / 4, b.height <= h / 4, b.width >= mw, b.height >= mh,
                b.area * 10 >= b.width * b.height * 3
            else { continue }
            estimated += (b.area + unit / 2) / unit
        }
        return Count(isolated: modal.value.count, estimated: estimated)
    }
}

extension GateScan {
    /// The smallest number of marks that reads as a plot of individual records.
    var recordMarks: Int { max(50, 5 * index.minCellCount) }

    mutating func marks(_ image: GateImage) {
        guard let count = PlotMarks.count(image), count.isolated >= 10, count.estimated >= recordMarks else { return }
        add(
            "scatter-marks",
            .likely,
            "plot",
            "about \(count.estimated) marks of one shape (\(count.isolated) isolated): a plot of individual records? "
                + "(the dataset has \(index.rowCount) rows; \(recordMarks) or more marks read as one mark per record)"
        )
    }
}
