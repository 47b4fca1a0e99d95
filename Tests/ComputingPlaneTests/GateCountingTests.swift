import Testing

@testable import ComputingPlane

/// The small structures the gate's hot loops count with, against the plain ones they replace.
@Suite struct GateCountingTests {
    /// `RowCounts` (the digit-window scan's rows with three values) agrees with a dictionary through a sliding
    /// window of values, including values held by more rows than the table first has slots for.
    @Test func rowCountsAgreeWithADictionary() {
        var rng = SystemRandomNumberGenerator()
        var lists: [[Int32]] = (0..<400).map { _ in
            (0..<Int.random(in: 1...12, using: &rng)).map { _ in Int32.random(in: 0..<5_000, using: &rng) }
        }
        // Two values held by many rows, as a common date is: the table must grow.
        lists.append((0..<3_000).map { Int32($0) })
        lists.append((0..<2_500).map { Int32($0 * 2) })
        for list in lists.indices { lists[list] = Array(Set(lists[list])) }
        var counts = RowCounts()
        var reference: [Int32: Int] = [:]
        var window: [Int] = []
        for step in 0..<3_000 {
            let value = step % 97 == 0 ? lists.count - 1 - (step / 97) % 2 : Int.random(in: 0..<400, using: &rng)
            guard !window.contains(value) else { continue }
            window.append(value)
            for row in lists[value] { reference[row, default: 0] += 1 }
            if !counts.fits(lists[value].count) {
                counts.rebuild(for: window.map { lists[$0][...] })
            } else {
                for row in lists[value] { counts.increment(row) }
            }
            if window.count > 30 {
                let old = window.removeFirst()
                for row in lists[old] {
                    reference[row]! -= 1
                    counts.decrement(row)
                }
            }
            #expect(counts.rowsWithThree == reference.values.filter { $0 >= 3 }.count, "step \(step)")
        }
    }

    /// The dominance rule's largest contributors are the head of a full sort.
    @Test func largestIsTheHeadOfASort() {
        for n in [0, 1, 2, 5, 1_000] {
            let values = (0..<n).map { _ in Double(Int.random(in: 0..<50)) }
            for count in [1, 2, 3] {
                #expect(Rederivation.largest(count, of: values) == Array(values.sorted(by: >).prefix(count)))
            }
        }
    }
}
