import ComputingPlane
import Foundation

/// A synthetic health dataset for the statistical checks: 3,000 patients (one row each) and their claims
/// (several per patient, so rows and entities differ). Regions, sexes, smoking and age bands are large groups;
/// a few districts and diagnoses are small on purpose (Islands 6, Marsh 4, Fjord 8, Moor 3; kuru 3, progeria 2),
/// Harbour (25) has one dominant income, Ridge (15) two near-equal large incomes (p %), Valley (40) smokes to a
/// person (class disclosure), and 3 patients hold all 40 transplant claims.
enum StatFixture {
    /// The corpora's one deterministic generator.
    typealias Rand = OutputGateTests.Rand

    struct Patient {
        var id: String
        var name: String
        var age: Int
        var sex: String
        var region: String
        var district: String
        var smoker: String
        var diagnosis: String
        var income: Double
        var visit: String
    }

    struct Claim {
        var id: String
        var patient: Int
        var amount: Double
        var category: String
    }

    static let regions = ["north", "south", "east", "west", "central"]
    static let commonDiagnoses = ["healthy", "asthma", "diabetes", "hypertension", "copd"]
    static let regularDistricts = (1...30).map { "District \($0 < 10 ? "0" : "")\($0)" }
    static let small: [(String, Int)] = [("Islands", 6), ("Marsh", 4), ("Fjord", 8), ("Moor", 3)]

    static let policy = """
        {"version": 1,
         "tables": {
           "patients.csv": {"entity": "patient_id", "columns": {"patient_id": "key", "name": "direct_identifier",
             "age": "quasi_identifier", "sex": "quasi_identifier", "region": "other", "district": "quasi_identifier",
             "smoker": "quasi_identifier", "diagnosis": "sensitive", "income": "sensitive", "visit_date": "date"}},
           "claims.csv": {"entity": "patient_id", "columns": {"claim_id": "key", "patient_id": "key",
             "amount": "sensitive", "category": "other"}}},
         "thresholds": {"minCellCount": 10, "dominanceN": 2, "dominanceK": 0.9, "minDegreesOfFreedom": 10,
           "k": 10, "pPercent": 0.1}}
        """

    static func pad(_ v: Int, _ w: Int) -> String {
        let t = String(v)
        return String(repeating: "0", count: max(0, w - t.count)) + t
    }

    static let patients: [Patient] = {
        var r = Rand(state: 15)
        var list: [Patient] = []
        var districts: [String] = []
        for (name, size) in small { districts += Array(repeating: name, count: size) }
        districts += Array(repeating: "Harbour", count: 25) + Array(repeating: "Ridge", count: 15)
        districts += Array(repeating: "Valley", count: 40)
        while districts.count < 3000 { districts.append(regularDistricts[districts.count % regularDistricts.count]) }
        var harbourSeen = 0
        var ridgeSeen = 0
        for i in 0..<3000 {
            let district = districts[i]
            var income = Double(20_000 + r.next(100_000)) + Double(r.next(100)) / 100
            if district == "Harbour" {
                harbourSeen += 1
                income = harbourSeen == 1 ? 9_000_000 : Double(20_000 + r.next(20_000))
            }
            if district == "Ridge" {
                ridgeSeen += 1
                income = ridgeSeen == 1 ? 1_000_000 : ridgeSeen == 2 ? 990_000 : Double(3_000 + r.next(3_000))
            }
            var diagnosis = r.pick(commonDiagnoses)
            if [100, 900, 1700].contains(i) { diagnosis = "kuru" }
            if [333, 2222].contains(i) { diagnosis = "progeria" }
            list.append(
                Patient(
                    id: "PT\(pad(200_000 + i * 3, 6))",
                    name: "Person \(i)",
                    age: 18 + r.next(72),
                    sex: r.next(2) == 0 ? "F" : "M",
                    region: regions[i % regions.count],
                    district: district,
                    smoker: district == "Valley" ? "yes" : (r.next(10) < 3 ? "yes" : "no"),
                    diagnosis: diagnosis,
                    income: income,
                    visit: "\(2018 + r.next(6))-\(pad(1 + r.next(12), 2))-\(pad(1 + r.next(28), 2))"
                )
            )
        }
        return list
    }()

    static let claims: [Claim] = {
        var r = Rand(state: 16)
        var list: [Claim] = []
        for (i, _) in patients.enumerated() {
            for _ in 0..<(1 + r.next(4)) {
                list.append(
                    Claim(
                        id: "CL\(pad(list.count, 7))",
                        patient: i,
                        amount: Double(50 + r.next(2_000)),
                        category: r.pick(["gp", "hospital", "pharmacy", "dental"])
                    )
                )
            }
        }
        for k in 0..<40 {
            list.append(
                Claim(id: "CL\(pad(list.count, 7))", patient: [5, 6, 7][k % 3], amount: 40_000, category: "transplant")
            )
        }
        return list
    }()

    static func money(_ v: Double) -> String { String(format: "%.2f", v) }

    static let patientsCSV: [UInt8] = {
        var t = "patient_id,name,age,sex,region,district,smoker,diagnosis,income,visit_date\n"
        for p in patients {
            t +=
                "\(p.id),\(p.name),\(p.age),\(p.sex),\(p.region),\(p.district),\(p.smoker),\(p.diagnosis),\(money(p.income)),\(p.visit)\n"
        }
        return Array(t.utf8)
    }()

    static let claimsCSV: [UInt8] = {
        var t = "claim_id,patient_id,amount,category\n"
        for c in claims { t += "\(c.id),\(patients[c.patient].id),\(Int(c.amount)),\(c.category)\n" }
        return Array(t.utf8)
    }()

    static let index: DatasetIndex = {
        try! DatasetIndex(
            policyJSON: Array(policy.utf8),
            tables: ["patients.csv": patientsCSV, "claims.csv": claimsCSV]
        )
    }()

    static func check(_ name: String, _ text: String, history: [(String, String)] = []) -> GateFileVerdict {
        let report = OutputGate.check(
            files: [(name, Array(text.utf8))],
            index: index,
            history: history.map { ($0.0, Array($0.1.utf8)) }
        )
        return report.files[0]
    }

    // MARK: Aggregation helpers (what a consumer's pandas code would compute)

    static func groups<K: Hashable>(_ key: (Patient) -> K?) -> [K: [Patient]] {
        var out: [K: [Patient]] = [:]
        for p in patients { if let k = key(p) { out[k, default: []].append(p) } }
        return out
    }

    static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func std(_ values: [Double]) -> Double {
        let m = mean(values)
        return (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)).squareRoot()
    }

    static func band(_ age: Int, width: Int) -> String {
        let low = age / width * width
        return "\(low)-\(low + width - 1)"
    }

    /// A pandas-like repr of a float (up to 6 decimals, trailing zeros dropped).
    static func num(_ v: Double, _ decimals: Int = 6) -> String {
        var s = String(format: "%.\(decimals)f", v)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s += "0" }
        }
        return s
    }

    static func checks(_ verdict: GateFileVerdict) -> Set<String> { Set(verdict.findings.map(\.check)) }
}
