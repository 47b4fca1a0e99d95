public import ChainCore
public import ChainRecords

extension ChainIndex: RecordReader {

    /// The head block's timestamp from its verified header (stored with its hash under "h"); 0 for the
    /// checkpoint, whose header the index never saw.
    public func headTimestamp() throws(IndexError) -> UInt64 {
        let head = try head()
        guard let raw = try read(Keyspace.block(head.number)), raw.count >= 72 else {
            throw IndexError(kind: .corrupt, reason: "the head block \(head.number) has no stored hash and timestamp")
        }
        return Keyspace.uint64(raw[64..<72])
    }

    public func dataset(_ id: Hash32) throws(IndexError) -> DatasetRecord? { try record(Keyspace.dataset(id)) }
    public func rental(dataset: Hash32, consumer: Address) throws(IndexError) -> RentalRecord? {
        try record(Keyspace.rental(dataset, consumer))
    }
    public func algorithm(_ imageDigest: Hash32) throws(IndexError) -> AlgorithmRecord? {
        try record(Keyspace.algorithm(imageDigest))
    }
    public func job(_ id: Hash32) throws(IndexError) -> JobRecord? { try record(Keyspace.job(id)) }
    public func measurement(_ digest: Hash32) throws(IndexError) -> MeasurementRecord? {
        try record(Keyspace.measurement(digest))
    }
    public func `operator`(_ address: Address) throws(IndexError) -> OperatorRecord? {
        try record(Keyspace.operator(address))
    }
    public func privacySigner() throws(IndexError) -> SignerRecord? { try record(Keyspace.privacySigner) }
    public func governance() throws(IndexError) -> SignerRecord? { try record(Keyspace.governance) }

    /// Every rental of `consumer` (at most `limit`), by dataset id.
    public func rentals(consumer: Address, limit: Int = .max) throws(IndexError) -> [RentalRecord] {
        var out: [RentalRecord] = []
        for row in try scan(Keyspace.rentalsOfConsumer(consumer), limit: limit) {
            if let r = try rental(dataset: try hash32OrCorrupt(row.key.suffix(32)), consumer: consumer) {
                out.append(r)
            }
        }
        return out
    }

    /// Every rental of a dataset (at most `limit`), by consumer.
    public func rentals(dataset: Hash32, limit: Int = .max) throws(IndexError) -> [RentalRecord] {
        try scan(Keyspace.rentalsOfDataset(dataset), limit: limit).map { (row) throws(IndexError) -> RentalRecord in
            try decode(row.value, at: row.key)
        }
    }

    /// Every dataset of `provider`.
    public func datasets(provider: Address) throws(IndexError) -> [DatasetRecord] {
        var out: [DatasetRecord] = []
        for row in try scan(Keyspace.datasetsOfProvider(provider)) {
            if let d = try dataset(try hash32OrCorrupt(row.key.suffix(32))) { out.append(d) }
        }
        return out
    }

    /// Every dataset.
    public func datasets() throws(IndexError) -> [DatasetRecord] {
        try scan(Keyspace.datasets).map { (row) throws(IndexError) -> DatasetRecord in
            try decode(row.value, at: row.key)
        }
    }

    /// Every job that ran the algorithm with `imageDigest`.
    public func jobs(imageDigest: Hash32) throws(IndexError) -> [JobRecord] {
        var out: [JobRecord] = []
        for row in try scan(Keyspace.jobsOfImage(imageDigest)) {
            if let j = try job(try hash32OrCorrupt(row.key.suffix(32))) { out.append(j) }
        }
        return out
    }

    /// Every measurement ever trusted (revoked ones have `trusted == false`).
    public func measurements() throws(IndexError) -> [MeasurementRecord] {
        try scan(Keyspace.measurements).map { (row) throws(IndexError) -> MeasurementRecord in
            try decode(row.value, at: row.key)
        }
    }

    /// How many records the index holds and their total key + value bytes (before LevelDB's compression).
    public func recordStats() throws(IndexError) -> (count: Int, bytes: Int) {
        var count = 0
        var bytes = 0
        for prefix in Keyspace.recordPrefixes {
            for row in try scan(prefix) {
                count += 1
                bytes += row.key.count + row.value.count
            }
        }
        return (count, bytes)
    }

    /// Keccak-256 over every record (key ‖ value, in key order) and the head: equal digests mean equal indexes.
    public func digest() throws(IndexError) -> Hash32 {
        var hasher = Keccak256()
        for prefix in Keyspace.recordPrefixes {
            for row in try scan(prefix) {
                hasher.update(RLPItem.list([.bytes(row.key), .bytes(row.value)]).encoded)
            }
        }
        let head = try head()
        hasher.update(Keyspace.be(head.number) + head.hash.bytes)
        return hasher.finalize()
    }

    private func record<R: StoredRecord>(_ key: [UInt8]) throws(IndexError) -> R? {
        guard let raw = try read(key) else { return nil }
        return try decode(raw, at: key)
    }

    private func decode<R: StoredRecord>(_ raw: [UInt8], at key: [UInt8]) throws(IndexError) -> R {
        do { return try R(encoded: raw) } catch {
            throw IndexError(kind: .corrupt, reason: "record at \(Hex.encode(key)): \(error.reason)")
        }
    }

    private func hash32OrCorrupt(_ bytes: ArraySlice<UInt8>) throws(IndexError) -> Hash32 {
        do { return try Hash32(bytes) } catch { throw IndexError(kind: .corrupt, reason: error.reason) }
    }
}
