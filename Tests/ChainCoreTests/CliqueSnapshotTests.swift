import ChainCore
import Testing

/// EIP-225 signer-set rules on headers sealed in the test with secp256k1 keys.
@Suite struct CliqueSnapshotTests {
    static let keys: [[UInt8]] = (0..<4).map { Keccak256.hash(utf8: "clique signer \($0)").bytes }
    static let addresses: [Address] = keys.map { try! Secp256k1.shared.address(privateKey: $0) }
    static let epoch: UInt64 = 30_000

    /// Three signers (keys 0-2) at the genesis checkpoint.
    static func genesis(signers: [Address] = Array(addresses.prefix(3))) throws -> Header {
        try seal(
            Header(
                parentHash: .zero,
                ommersHash: .emptyListHash,
                beneficiary: .zero,
                stateRoot: .zero,
                transactionsRoot: .emptyListHash,
                receiptsRoot: .emptyListHash,
                logsBloom: Bloom(),
                difficulty: 1,
                number: 0,
                gasLimit: 30_000_000,
                gasUsed: 0,
                timestamp: 1_700_000_000,
                extraData: [UInt8](repeating: 0, count: 32) + signers.sorted().flatMap(\.bytes)
                    + [UInt8](repeating: 0, count: 65),
                mixHash: .zero,
                nonce: CliqueSnapshot.dropNonce
            ),
            by: 0
        )
    }

    /// The child of `parent` sealed by signer `key` with the right difficulty for `signers`.
    static func child(
        of parent: Header,
        by key: Int,
        signers: [Address],
        vote: (candidate: Address, authorize: Bool)? = nil,
        list: [Address]? = nil
    ) throws -> Header {
        let number = parent.number + 1
        let position = signers.sorted().firstIndex(of: addresses[key])
        let inTurn = position.map { UInt64($0) == number % UInt64(signers.count) } ?? false
        return try seal(
            Header(
                parentHash: parent.hash,
                ommersHash: .emptyListHash,
                beneficiary: vote?.candidate ?? .zero,
                stateRoot: .zero,
                transactionsRoot: .emptyListHash,
                receiptsRoot: .emptyListHash,
                logsBloom: Bloom(),
                difficulty: inTurn ? Clique.inTurnDifficulty : Clique.outOfTurnDifficulty,
                number: number,
                gasLimit: 30_000_000,
                gasUsed: 0,
                timestamp: parent.timestamp + 5,
                extraData: [UInt8](repeating: 0, count: 32) + (list?.sorted().flatMap(\.bytes) ?? [])
                    + [UInt8](repeating: 0, count: 65),
                mixHash: .zero,
                nonce: vote.map { $0.authorize ? CliqueSnapshot.authorizeNonce : CliqueSnapshot.dropNonce }
                    ?? CliqueSnapshot.dropNonce
            ),
            by: key
        )
    }

    static func seal(_ header: Header, by key: Int) throws -> Header {
        var h = header
        let signature = try Secp256k1.shared.sign(try Clique.sealHash(h), privateKey: keys[key])
        h.extraData = Array(h.extraData.dropLast(65)) + signature.r + signature.s + [signature.recoveryID]
        return h
    }

    @Test func signersTakingTurnsAreAccepted() throws {
        let signers = Array(Self.addresses.prefix(3))
        var snapshot = try CliqueSnapshot(checkpoint: try Self.genesis(), epoch: Self.epoch)
        var parent = try Self.genesis()
        for n in 1...9 {
            let header = try Self.child(of: parent, by: n % 3, signers: signers)
            #expect(snapshot.apply(header).isEmpty, "block \(n)")
            parent = header
        }
        #expect(snapshot.number == 9 && snapshot.signers == signers.sorted())
    }

    /// One signer (of three) sealing a private fork alone is refused at its second block: a signer may seal
    /// at most one of any floor(3/2)+1 = 2 consecutive blocks.
    @Test func oneSignersPrivateForkIsRefused() throws {
        let signers = Array(Self.addresses.prefix(3))
        var snapshot = try CliqueSnapshot(checkpoint: try Self.genesis(), epoch: Self.epoch)
        let first = try Self.child(of: try Self.genesis(), by: 1, signers: signers)
        #expect(snapshot.apply(first).isEmpty)
        let second = try Self.child(of: first, by: 1, signers: signers)
        let failures = snapshot.apply(second)
        #expect(failures.map(\.field) == ["extraData (Clique recent signer)"])
        #expect(snapshot.number == 1, "a refused header does not advance the state")
        // Another signer continues the chain.
        #expect(snapshot.apply(try Self.child(of: first, by: 2, signers: signers)).isEmpty)
    }

    /// An epoch header sealed by one signer cannot rewrite the set: its list must be the set the votes left.
    @Test func anEpochHeaderMustListTheSetTheVotesProduced() throws {
        let signers = Array(Self.addresses.prefix(3))
        let epoch: UInt64 = 4
        var snapshot = try CliqueSnapshot(checkpoint: try Self.genesis(), epoch: epoch)
        var parent = try Self.genesis()
        for n in 1...3 {
            parent = try Self.child(of: parent, by: n % 3, signers: signers)
            #expect(snapshot.apply(parent).isEmpty)
        }
        let takeover = try Self.child(of: parent, by: 1, signers: signers, list: [Self.addresses[1]])
        #expect(snapshot.apply(takeover).map(\.field) == ["extraData (Clique epoch signers)"])
        let honest = try Self.child(of: parent, by: 1, signers: signers, list: signers)
        #expect(snapshot.apply(honest).isEmpty)
        // A signer list outside an epoch header is refused too.
        let stray = try Self.child(of: honest, by: 2, signers: signers, list: signers)
        #expect(snapshot.apply(stray).map(\.field) == ["extraData (Clique signers)"])
    }

    /// Votes change the set only with a majority of the current signers: two of three authorize signer 3,
    /// who may then seal; a single drop vote changes nothing, and the state survives its storage form.
    @Test func votesChangeTheSetOnlyByMajority() throws {
        var signers = Array(Self.addresses.prefix(3))
        let newcomer = Self.addresses[3]
        var snapshot = try CliqueSnapshot(checkpoint: try Self.genesis(), epoch: Self.epoch)
        let b1 = try Self.child(of: try Self.genesis(), by: 1, signers: signers, vote: (newcomer, true))
        #expect(snapshot.apply(b1).isEmpty)
        #expect(!snapshot.signers.contains(newcomer), "one vote of three is no majority")
        // The newcomer cannot seal yet.
        #expect(!snapshot.apply(try Self.child(of: b1, by: 3, signers: signers)).isEmpty)
        let b2 = try Self.child(of: b1, by: 2, signers: signers, vote: (newcomer, true))
        #expect(snapshot.apply(b2).isEmpty)
        #expect(snapshot.signers.contains(newcomer))
        signers.append(newcomer)
        let b3 = try Self.child(of: b2, by: 3, signers: signers, vote: (Self.addresses[0], false))
        #expect(snapshot.apply(b3).isEmpty)
        #expect(snapshot.signers.count == 4 && snapshot.votes.count == 1)
        let stored = try CliqueSnapshot(encoded: snapshot.encoded, epoch: Self.epoch)
        #expect(stored == snapshot)
        // The stored state keeps the recent-signer window: signer 3 just sealed and may not seal block 4.
        var resumed = stored
        #expect(
            resumed.apply(try Self.child(of: b3, by: 3, signers: signers)).map(\.field) == [
                "extraData (Clique recent signer)"
            ]
        )
    }
}
