import Sampling

/// Synthetic bank data: people with accounts (name, email, birth date, postcode, balance, opened, memo) and a
/// child table of transactions keyed by account_id. Deterministic for a given seed.
struct Bank {
    var accounts: CSVTable
    var transactions: CSVTable

    init(people: Int, seed: UInt64 = 7) {
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        func pick(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        func pad(_ v: Int, _ w: Int) -> String {
            let t = String(v)
            return String(repeating: "0", count: max(0, w - t.count)) + t
        }
        let first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
        let last = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman"]
        var accountRows: [[String]] = []
        var txRows: [[String]] = []
        var tx = 0
        for i in 0..<people {
            let account = "ACC" + pad(100_000 + i * 7, 7)
            let name = "\(first[pick(first.count)]) \(last[pick(last.count)]) \(i)"
            let email = "person\(i).\(pick(1000))@example.org"
            let birth = "\(1940 + pick(65))-\(pad(1 + pick(12), 2))-\(pad(1 + pick(28), 2))"
            let postcode = pad(10_000 + pick(300) * 37, 5)
            let balance = "\(pick(200_000)).\(pad(pick(100), 2))"
            let opened = "\(2000 + pick(24))-\(pad(1 + pick(12), 2))-\(pad(1 + pick(28), 2))"
            let memo = "called on \(birth), said \"hi\",\nsee \(email)"
            let branch = ["north", "south", "east", "west"][pick(4)]
            accountRows.append([account, name, email, birth, postcode, balance, opened, memo, branch])
            for _ in 0..<(1 + pick(3)) {
                tx += 1
                let amount = "\(pick(5000) - 2500)"
                let category = ["food", "rent", "travel", "salary", "other"][pick(5)]
                let booked = "\(2015 + pick(10))-\(pad(1 + pick(12), 2))-\(pad(1 + pick(28), 2))"
                txRows.append(["TX" + pad(tx, 8), account, amount, category, booked])
            }
        }
        accounts = CSVTable(
            header: ["account_id", "name", "email", "birth_date", "postcode", "balance", "opened", "memo", "branch"],
            rows: accountRows
        )
        transactions = CSVTable(
            header: ["tx_id", "account_id", "amount", "category", "booked"],
            rows: txRows
        )
    }

    static let policyJSON = """
        {"version": 1,
         "tables": {
           "accounts.csv": {"entity": "account_id", "columns": {"account_id": "key", "name": "direct_identifier",
             "email": "direct_identifier", "birth_date": "quasi_identifier", "postcode": "quasi_identifier",
             "balance": "sensitive", "opened": "date", "memo": "free_text", "branch": "other"}},
           "transactions.csv": {"entity": "account_id", "columns": {"tx_id": "key", "account_id": "key",
             "amount": "sensitive", "category": "quasi_identifier", "booked": "date"}}},
         "canaries": [{"table": "accounts.csv", "row": 41, "values": {"postcode": "10037"}},
                      {"table": "transactions.csv", "row": 7, "values": {"amount": 12}}],
         "thresholds": {"k": 10}}
        """

    var tables: [String: CSVTable] { ["accounts.csv": accounts, "transactions.csv": transactions] }
}
