import Foundation

/// The role a dataset column plays in disclosure control (`delong-policy.json`, shared with the Output Gate).
public enum ColumnRole: String, Sendable, CaseIterable, Codable {
    /// A join key or record id: re-keyed per sample, never released as is.
    case key
    /// Names a person directly (name, email, national id): dropped.
    case directIdentifier = "direct_identifier"
    /// Identifies in combination (birth date, postcode): generalized until k holds.
    case quasiIdentifier = "quasi_identifier"
    /// The value a study is about (balance, diagnosis): noised if numeric, l-diversity checked.
    case sensitive
    /// An event date: shifted per entity and cut to the month.
    case date
    /// Free text: dropped.
    case freeText = "free_text"
    /// Anything else: kept.
    case other
}

/// A dataset's disclosure policy: `delong-policy.json` version 1, written by the provider and kept beside the
/// dataset. The sampler (`delong dataset sample`) and the Output Gate both read it. Parsing is strict: an
/// unknown key anywhere is an error naming its path.
public struct DatasetPolicy: Sendable, Equatable {
    /// One table's entry.
    public struct Table: Sendable, Equatable {
        /// The column whose distinct values count as contributors (a foreign key in child tables).
        public var entity: String
        /// Column name → role. Columns the policy does not list are not released.
        public var columns: [String: ColumnRole]

        /// Creates a table entry.
        public init(entity: String, columns: [String: ColumnRole]) {
            self.entity = entity
            self.columns = columns
        }

        /// Column names with `role`, sorted.
        public func columns(withRole role: ColumnRole) -> [String] {
            columns.filter { $0.value == role }.map(\.key).sorted()
        }
    }

    /// A record the provider planted or marked; any output carrying it is a leak.
    public struct Canary: Sendable, Equatable {
        /// The table file name.
        public var table: String
        /// The 0-based data row.
        public var row: Int
        /// Column → cell text (numbers are kept in their JSON spelling).
        public var values: [String: String]

        /// Creates a canary.
        public init(table: String, row: Int, values: [String: String]) {
            self.table = table
            self.row = row
            self.values = values
        }
    }

    /// Disclosure thresholds, each with its default.
    public struct Thresholds: Sendable, Equatable {
        /// Smallest count a released table cell may have.
        public var minCellCount = 10
        /// Dominance rule: the top `dominanceN` contributors…
        public var dominanceN = 2
        /// …may not hold more than this share of a cell.
        public var dominanceK = 0.9
        /// Smallest residual degrees of freedom of a released model.
        public var minDegreesOfFreedom = 10
        /// k of k-anonymity.
        public var k = 10
        /// p% rule: a contributor's value may not be estimated closer than this fraction.
        public var pPercent = 0.10

        /// The defaults.
        public init() {}
    }

    /// Format version (1).
    public var version: Int
    /// Table file name → entry.
    public var tables: [String: Table]
    /// Planted records.
    public var canaries: [Canary]
    /// Thresholds (defaults where the file omits them).
    public var thresholds: Thresholds

    /// Creates a policy value.
    public init(version: Int = 1, tables: [String: Table], canaries: [Canary] = [], thresholds: Thresholds = .init()) {
        self.version = version
        self.tables = tables
        self.canaries = canaries
        self.thresholds = thresholds
    }

    /// Largest policy file accepted.
    public static let maxBytes = 4 << 20

    /// Parses and validates `delong-policy.json` bytes.
    public init(json bytes: [UInt8]) throws(SamplingError) {
        func bad(_ message: String) -> SamplingError { SamplingError(.malformedPolicy, "policy: \(message)") }
        guard bytes.count <= Self.maxBytes else { throw bad("file larger than \(Self.maxBytes) bytes") }
        let parsed: JSONValue
        do {
            parsed = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw bad("not valid JSON (\(error))")
        }
        guard case .object(let root) = parsed else { throw bad("expected a JSON object at the top level") }
        try Self.onlyKeys(root, ["version", "tables", "canaries", "thresholds"], at: "")

        guard let versionValue = root["version"] else { throw bad("missing \"version\" (expected 1)") }
        guard let version = Self.integer(versionValue), version == 1 else {
            throw bad("\"version\": expected 1, found \(Self.describe(versionValue))")
        }

        guard let tablesValue = root["tables"] else { throw bad("missing \"tables\"") }
        guard let tablesObject = tablesValue.object, !tablesObject.isEmpty else {
            throw bad("\"tables\": expected a non-empty object of table name → {entity, columns}")
        }
        var tables: [String: Table] = [:]
        for (name, value) in tablesObject {
            let path = "tables[\(Self.quote(name))]"
            try Self.checkTableName(name, at: path)
            guard let object = value.object else { throw bad("\(path): expected an object") }
            try Self.onlyKeys(object, ["entity", "columns"], at: path)
            guard let entity = object["entity"]?.string, !entity.isEmpty else {
                throw bad("\(path).entity: expected a column name")
            }
            guard let columnsObject = object["columns"]?.object, !columnsObject.isEmpty else {
                throw bad("\(path).columns: expected a non-empty object of column → role")
            }
            var columns: [String: ColumnRole] = [:]
            for (column, roleValue) in columnsObject {
                let roles = ColumnRole.allCases.map(\.rawValue).joined(separator: ", ")
                guard let text = roleValue.string, let role = ColumnRole(rawValue: text) else {
                    throw bad(
                        "\(path).columns[\(Self.quote(column))]: expected one of \(roles), found \(Self.describe(roleValue))"
                    )
                }
                columns[column] = role
            }
            guard columns[entity] != nil else {
                throw bad("\(path).entity: \"\(entity)\" is not one of the table's columns")
            }
            tables[name] = Table(entity: entity, columns: columns)
        }

        var canaries: [Canary] = []
        if let canariesValue = root["canaries"] {
            guard let list = canariesValue.array else { throw bad("\"canaries\": expected an array") }
            for (index, item) in list.enumerated() {
                let path = "canaries[\(index)]"
                guard let object = item.object else { throw bad("\(path): expected an object") }
                try Self.onlyKeys(object, ["table", "row", "values"], at: path)
                guard let table = object["table"]?.string, tables[table] != nil else {
                    throw bad(
                        "\(path).table: expected a table the policy lists, found \(Self.describe(object["table"]))"
                    )
                }
                guard let rowValue = object["row"], let row = Self.integer(rowValue), row >= 0 else {
                    throw bad("\(path).row: expected a 0-based row number, found \(Self.describe(object["row"]))")
                }
                var values: [String: String] = [:]
                if let valuesValue = object["values"] {
                    guard let valuesObject = valuesValue.object else {
                        throw bad("\(path).values: expected an object of column → string or number")
                    }
                    for (column, cell) in valuesObject.sorted(by: { $0.key < $1.key }) {
                        guard tables[table]?.columns[column] != nil else {
                            throw bad(
                                "\(path).values[\(Self.quote(column))]: expected a column that the policy lists for \(table)"
                            )
                        }
                        if let text = cell.string {
                            values[column] = text
                        } else if case .number(let number, let spelling) = cell {
                            values[column] = spelling.isEmpty ? "\(number)" : spelling
                        } else {
                            throw bad(
                                "\(path).values[\(Self.quote(column))]: expected a string or a number, found \(Self.describe(cell))"
                            )
                        }
                    }
                }
                canaries.append(Canary(table: table, row: row, values: values))
            }
        }

        var thresholds = Thresholds()
        if let thresholdsValue = root["thresholds"] {
            guard let object = thresholdsValue.object else {
                throw bad("\"thresholds\": expected an object")
            }
            try Self.onlyKeys(
                object,
                ["minCellCount", "dominanceN", "dominanceK", "minDegreesOfFreedom", "k", "pPercent"],
                at: "thresholds"
            )
            func int(_ key: String, min: Int) throws(SamplingError) -> Int? {
                guard let value = object[key] else { return nil }
                guard let number = Self.integer(value), number >= min else {
                    throw bad("thresholds.\(key): expected an integer ≥ \(min), found \(Self.describe(value))")
                }
                return number
            }
            func fraction(_ key: String) throws(SamplingError) -> Double? {
                guard let value = object[key] else { return nil }
                guard case .number(let number, _) = value, number > 0, number <= 1 else {
                    throw bad("thresholds.\(key): expected a number in (0, 1], found \(Self.describe(value))")
                }
                return number
            }
            if let v = try int("minCellCount", min: 1) { thresholds.minCellCount = v }
            if let v = try int("dominanceN", min: 1) { thresholds.dominanceN = v }
            if let v = try fraction("dominanceK") { thresholds.dominanceK = v }
            if let v = try int("minDegreesOfFreedom", min: 0) { thresholds.minDegreesOfFreedom = v }
            if let v = try int("k", min: 1) { thresholds.k = v }
            if let v = try fraction("pPercent") { thresholds.pPercent = v }
        }
        self.init(version: version, tables: tables, canaries: canaries, thresholds: thresholds)
    }

    private static func onlyKeys(
        _ object: [String: JSONValue],
        _ allowed: Set<String>,
        at path: String
    ) throws(SamplingError) {
        for key in object.keys.sorted() where !allowed.contains(key) {
            let full = path.isEmpty ? quote(key) : "\(path).\(key)"
            throw SamplingError(
                .malformedPolicy,
                "policy: unknown key \(full) (expected one of \(allowed.sorted().joined(separator: ", ")))"
            )
        }
    }

    private static func checkTableName(_ name: String, at path: String) throws(SamplingError) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        let ok =
            !name.isEmpty && !name.hasPrefix("/") && name.utf8.count <= 1024
            && parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." } && !name.contains("\0")
        guard ok else {
            throw SamplingError(.malformedPolicy, "policy: \(path): expected a relative file path without . or ..")
        }
    }

    static func integer(_ value: JSONValue) -> Int? {
        guard case .number(let double, _) = value, double.rounded() == double, abs(double) < 1e15 else { return nil }
        return Int(double)
    }

    static func quote(_ text: String) -> String {
        "\"" + String(text.prefix(80)) + "\""
    }

    /// What a JSON value is, for an error message ("the string \"a\"", "an array", "nothing").
    public static func describe(_ value: JSONValue?) -> String {
        switch value {
        case nil: return "nothing"
        case .string(let text): return "the string " + quote(text)
        case .number(let number, _): return "the number \(number)"
        case .bool: return "a boolean"
        case .array: return "an array"
        case .object: return "an object"
        case .null: return "null"
        }
    }
}

/// A parsed JSON value (strict parsing needs to tell booleans from numbers and see every key: the policy here,
/// `delong serve`'s config).
public enum JSONValue: Decodable, Sendable {
    case null
    case bool(Bool)
    /// The number and, when it was an integer, its decimal spelling.
    case number(Double, String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .number(Double(value), String(value))
        } else if let value = try? container.decode(Double.self) {
            self = .number(value, "")
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public var string: String? { if case .string(let s) = self { s } else { nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
}
