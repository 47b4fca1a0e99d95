public import Parquet

/// Reads a plaintext table by its name: `*.parquet` (any case) through the Parquet reader, anything else as
/// CSV. Both give the same in-memory table: the column names and every cell as text, a Parquet cell written
/// as pandas' to_csv writes it (docs/sampling.md), so a Parquet table and its CSV twin sample alike.
public enum TableReader {
    /// Whether `name` is read as Parquet.
    public static func isParquet(_ name: String) -> Bool {
        name.lowercased().hasSuffix(".parquet")
    }

    /// The name the table's sample gets: samples are always CSV, so `x.parquet` becomes `x.csv`.
    public static func sampleName(_ name: String) -> String {
        guard isParquet(name) else { return name }
        return String(name.dropLast(".parquet".count)) + ".csv"
    }

    /// Parses `bytes` (the whole file) named `name`.
    public static func parse(
        _ bytes: [UInt8],
        name: String,
        csvLimits: CSVLimits = CSVLimits(),
        parquetLimits: ParquetLimits = ParquetLimits()
    ) throws(SamplingError) -> CSVTable {
        guard isParquet(name) else { return try CSVReader.parse(bytes, name: name, limits: csvLimits) }
        do {
            let table = try ParquetReader.read(bytes, name: name, limits: parquetLimits)
            return CSVTable(header: table.columns, rows: table.rows)
        } catch {
            switch error.code {
            case .unsupported: throw SamplingError(.unsupportedFormat, error.reason)
            case .malformed, .limitExceeded: throw SamplingError(.malformedParquet, error.reason)
            }
        }
    }
}
