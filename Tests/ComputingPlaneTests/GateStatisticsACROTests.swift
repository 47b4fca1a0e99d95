import ComputingPlane
import Foundation
import TestSupport
import Testing

/// ACRO (PyPI `acro`, in the contrib venv) as an independent reference: ACRO builds crosstabs and pivot tables
/// of a synthetic dataset and marks each cell (threshold, NK rule, p-ratio, zeros); the plain tables, as a
/// consumer writes them with `to_csv`, go through the gate, which must flag the cells ACRO fails and not those
/// it passes.
@Suite struct GateStatisticsACROTests {
    static let policy = """
        {"version": 1, "tables": {"people.csv": {"entity": "person_id", "columns": {"person_id": "key",
          "region": "other", "sex": "quasi_identifier", "smoker": "quasi_identifier", "age": "quasi_identifier",
          "income": "sensitive"}}}}
        """

    static let statistical: Set<String> = ["threshold", "dominance", "p-percent", "class-disclosure", "extremes"]

    @Test func theGateFlagsTheCellsACROFailsAndPassesTheCellsACROPasses() throws {
        let output = try ContribTool.run(["contrib/.venv/bin/python", "contrib/scripts/acro_reference.py"])
        let reference = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        let data = try #require(reference["data"] as? String)
        let tables = try #require(reference["tables"] as? [[String: Any]])
        let index = try DatasetIndex(policyJSON: Array(Self.policy.utf8), tables: ["people.csv": Array(data.utf8)])
        var agree = 0
        var total = 0
        var failed = 0
        var caught = 0
        var passed = 0
        var falseFlags = 0
        for table in tables {
            let name = try #require(table["name"] as? String)
            let csv = try #require(table["csv"] as? String)
            let headerLines = try #require(table["headerLines"] as? Int)
            let cells = try #require(table["cells"] as? [[Any]])
            let verdict = OutputGate.checkFile(path: name, bytes: Array(csv.utf8), index: index)
            let flagged = Set(verdict.findings.filter { Self.statistical.contains($0.check) }.map(\.where))
            for cell in cells {
                let row = try #require(cell[0] as? Int)
                let column = try #require(cell[1] as? String)
                let status = try #require(cell[2] as? String)
                let place = "row \(headerLines + row), column \"\(column)\""
                let acroFails = status != "ok"
                let gateFlags = flagged.contains(place)
                total += 1
                agree += acroFails == gateFlags ? 1 : 0
                if acroFails {
                    failed += 1
                    caught += gateFlags ? 1 : 0
                } else {
                    passed += 1
                    falseFlags += gateFlags ? 1 : 0
                }
                if acroFails != gateFlags {
                    print("ACRO disagreement: \(name) \(place): ACRO \(status), gate \(gateFlags ? "flags" : "passes")")
                }
            }
        }
        let rate = Double(agree) / Double(total)
        print(
            "ACRO reference: \(tables.count) tables, \(total) cells, agreement \(agree)/\(total) = \(rate); ACRO fails \(failed), gate flags \(caught) of them; ACRO passes \(passed), gate flags \(falseFlags) of them"
        )
        #expect(tables.count >= 6 && failed >= 20)
        #expect(rate >= 0.95)
        #expect(Double(caught) / Double(failed) >= 0.95)
        #expect(Double(falseFlags) / Double(passed) <= 0.05)
    }
}
