/// `report.json` of a sample: what was drawn, changed and reached. Field meanings are in docs/sampling.md.
public struct SampleReport: Codable, Sendable, Equatable {
    /// Report format version (1).
    public var version = 1
    /// SHA-256 of the policy file's bytes, hex (set by the CLI; nil when the sampler ran on a parsed policy).
    public var policySHA256: String? = nil
    /// Entities drawn and available (canary entities and empty entity values are never available).
    public var entities: Entities
    /// The k target and the smallest k reached over tables with quasi-identifiers (nil when none has any).
    public var k: Target
    /// The l target and the smallest l reached over sensitive columns (nil when there are none).
    public var l: Target
    /// Whether `--seed` fixed the row draw and the noise.
    public var seeded: Bool
    /// How key columns were pseudonymized.
    public var pseudonyms: Pseudonyms
    /// How date-role columns were shifted.
    public var dateShift: DateShift
    /// Largest share of a table's drawn rows that may be suppressed.
    public var maxSuppression: Double
    /// Per table, sorted by name.
    public var tables: [Table]
    /// Source values of key and direct-identifier columns found in any output cell (must be 0).
    public var identifierValuesFound: Int

    public struct Entities: Codable, Sendable, Equatable {
        public var requested: Int
        public var available: Int
        public var drawn: Int
        public var canaryEntitiesExcluded: Int
    }

    public struct Target: Codable, Sendable, Equatable {
        public var target: Int
        public var reached: Int?
    }

    public struct Pseudonyms: Codable, Sendable, Equatable {
        public var algorithm = "HMAC-SHA-256, first 16 bytes as hex"
        public var secret = "32 bytes fresh from the OS for this sample, never written, discarded"
    }

    public struct DateShift: Codable, Sendable, Equatable {
        public var maxDays: Int
        public var per = "entity (HMAC of the entity value under the sample secret)"
        public var truncatedTo = "month"
    }

    public struct Table: Codable, Sendable, Equatable {
        /// The table's file in the sample (a Parquet source is written as CSV: `x.parquet` → `x.csv`).
        public var name: String
        /// The policy's name of the source table, when it differs from `name` (a Parquet source); else absent.
        public var source: String? = nil
        public var entity: String
        public var rowsIn: Int
        public var rowsDrawn: Int
        public var rowsSuppressed: Int
        public var rowsOut: Int
        public var canaryRowsExcluded: Int
        /// Smallest equivalence class over the quasi-identifiers kept (nil: no quasi-identifier column left or
        /// listed; then every row is one class).
        public var k: Int?
        /// Quasi-identifier columns still present in the output (the columns k and l are computed over).
        public var quasiIdentifiers: [String]
        /// Sensitive column → smallest number of distinct values in a class.
        public var l: [String: Int]
        /// Per source column, what happened to it.
        public var columns: [Column]
        /// Noise added to numeric sensitive columns.
        public var noise: [Noise]
        /// How far the marginals moved.
        public var utility: [Utility]
    }

    public struct Column: Codable, Sendable, Equatable {
        public var name: String
        /// The policy role, or "unlisted".
        public var role: String
        /// "dropped", "pseudonymized", "generalized", "kept", "noised", "shifted".
        public var action: String
        /// For generalized columns: the level applied ("day", "month", "year", "5 years", "10 years",
        /// "bands of W", "first N characters", "dropped").
        public var detail: String?
    }

    public struct Noise: Codable, Sendable, Equatable {
        public var column: String
        public var mechanism = "laplace"
        /// The Laplace scale b = scaleFactor × the column's standard deviation in the drawn rows.
        public var scale: Double
        public var scaleFactor: Double
        /// Decimal places the noised values were rounded to (the source's).
        public var decimals: Int
    }

    public struct Utility: Codable, Sendable, Equatable {
        public var column: String
        /// Distinct values in the drawn rows (source values) and in the output.
        public var distinctBefore: Int
        public var distinctAfter: Int
        /// Numeric columns: mean and standard deviation in the drawn rows and in the output.
        public var meanBefore: Double?
        public var meanAfter: Double?
        public var sdBefore: Double?
        public var sdAfter: Double?
        /// Total variation distance between the column's distribution over the drawn rows (after the same
        /// generalization) and over the output rows: how far suppression moved the marginal (0 = not at all).
        public var suppressionTVD: Double?
    }
}
