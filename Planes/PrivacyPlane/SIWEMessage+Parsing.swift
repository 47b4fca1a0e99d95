import ChainCore

extension SIWEMessage {
    /// Parses the exact text a wallet signed; see `init(parsing:)` taking bytes.
    public init(parsing text: String) throws(PrivacyPlaneError) {
        try self.init(parsing: Array(text.utf8))
    }

    /// Parses the exact bytes a wallet signed, strictly by the EIP-4361 ABNF.
    ///
    /// Refused, with a reason naming the line: more than `maxBytes`, CR (only LF ends a line), any byte that
    /// is not printable ASCII (every field's grammar is ASCII), a line missing or out of order, an unknown or
    /// repeated line, a trailing line break, and any field outside its grammar.
    public init(parsing bytes: [UInt8]) throws(PrivacyPlaneError) {
        guard bytes.count <= Self.maxBytes else {
            throw PrivacyPlaneError(
                .malformedMessage,
                "the message is \(bytes.count) bytes; at most \(Self.maxBytes) are accepted"
            )
        }
        var lineNumber = 1
        var column = 1
        for byte in bytes {
            if byte == 0x0A {
                lineNumber += 1
                column = 1
                continue
            }
            if byte == 0x0D {
                throw PrivacyPlaneError(
                    .malformedMessage,
                    "line \(lineNumber): carriage return (CR) found; EIP-4361 lines end with LF only"
                )
            }
            guard byte >= 0x20 && byte < 0x7F else {
                let hex = String(byte, radix: 16, uppercase: true)
                throw PrivacyPlaneError(
                    .malformedMessage,
                    "line \(lineNumber), column \(column): byte 0x\(hex.count == 1 ? "0" + hex : hex) is not "
                        + "printable ASCII, which every EIP-4361 field is"
                )
            }
            column += 1
        }
        var reader = LineReader(lines: bytes.split(separator: 0x0A, omittingEmptySubsequences: false))
        try self.init(reading: &reader)
    }

    private init(reading r: inout LineReader) throws(PrivacyPlaneError) {
        // [ scheme "://" ] domain " wants you to sign in with your Ethereum account:"
        let first = try r.next("the domain line (\"<domain>\(Self.preamble)\")")
        guard first.hasSuffix(Self.preamble) else {
            throw r.error("expected \"<domain>\(Self.preamble)\", found \(Self.quoted(first))")
        }
        var domain = String(first.dropLast(Self.preamble.count))
        var scheme: String? = nil
        let domainBytes = Array(domain.utf8)
        if let at = (0..<max(0, domainBytes.count - 2)).first(where: {
            domainBytes[$0..<($0 + 3)].elementsEqual("://".utf8)
        }) {
            scheme = String(decoding: domainBytes[..<at], as: UTF8.self)
            domain = String(decoding: domainBytes[(at + 3)...], as: UTF8.self)
            if let problem = Self.schemeProblem(scheme!) { throw r.error("scheme: \(problem)") }
        }
        if let problem = Self.domainProblem(domain) { throw r.error("domain: \(problem)") }

        // address (EIP-55)
        let addressText = try r.next("the address line")
        let address: Address
        do { address = try Address(hex: addressText) } catch {
            throw r.error(
                "expected a 0x-prefixed 40-digit EIP-55 address, found \(Self.quoted(addressText)): \(error.reason)"
            )
        }
        guard addressText.hasPrefix("0x"), addressText == address.checksummed else {
            throw r.error(
                "address \(Self.quoted(addressText)) is not in EIP-55 checksum form; expected \(address.checksummed)"
            )
        }

        // LF [ statement LF ] LF
        try r.expectEmpty("an empty line after the address")
        var statement: String? = nil
        let candidate = try r.next("an empty line or the statement")
        if candidate.isEmpty {
            if r.peek() == "" {
                statement = ""
                _ = try r.next("")
            }
        } else {
            if let problem = Self.statementProblem(candidate) { throw r.error("statement: \(problem)") }
            statement = candidate
            try r.expectEmpty("an empty line after the statement (a statement is one line)")
        }

        let uri = try r.tagged("URI: ")
        if let problem = Self.uriProblem(uri) { throw r.error("URI: \(problem)") }
        let version = try r.tagged("Version: ")
        guard version == Self.version else { throw r.error("Version: expected 1, found \(Self.quoted(version))") }
        let chainText = try r.tagged("Chain ID: ")
        guard let first = chainText.utf8.first, first != 0x30 || chainText == "0",
            chainText.utf8.allSatisfy(URIGrammar.isDigit), let chainID = UInt64(chainText)
        else {
            throw r.error(
                "Chain ID: expected a decimal without leading zeros that fits 64 bits, found \(Self.quoted(chainText))"
            )
        }
        let nonce = try r.tagged("Nonce: ")
        if let problem = Self.nonceProblem(nonce) { throw r.error("Nonce: \(problem)") }
        let issuedAtText = try r.tagged("Issued At: ")
        let issuedAt = try r.timestamp(issuedAtText, "Issued At")

        var expirationTime: RFC3339Timestamp? = nil
        var notBefore: RFC3339Timestamp? = nil
        var requestID: String? = nil
        var resources: [String]? = nil
        if let text = r.optionalTagged("Expiration Time: ") {
            expirationTime = try r.timestamp(text, "Expiration Time")
        }
        if let text = r.optionalTagged("Not Before: ") { notBefore = try r.timestamp(text, "Not Before") }
        if let text = r.optionalTagged("Request ID: ") {
            if let problem = Self.requestIDProblem(text) { throw r.error("Request ID: \(problem)") }
            requestID = text
        }
        if r.peek() == "Resources:" {
            _ = try r.next("")
            var list: [String] = []
            while let line = r.peek(), line.hasPrefix("- ") {
                _ = try r.next("")
                let resource = String(line.dropFirst(2))
                if let problem = Self.uriProblem(resource) { throw r.error("resource \(list.count + 1): \(problem)") }
                list.append(resource)
            }
            resources = list
        }
        if let extra = r.peek() {
            _ = try r.next("")
            if extra.isEmpty && r.peek() == nil {
                throw r.error("the message ends with a line break; EIP-4361 messages end after their last field")
            }
            throw r.error(
                "unexpected \(Self.quoted(extra)): after Issued At only Expiration Time, Not Before, Request ID "
                    + "and Resources may follow, once each and in that order"
            )
        }
        try self.init(
            scheme: scheme,
            domain: domain,
            address: address,
            statement: statement,
            uri: uri,
            chainID: chainID,
            nonce: nonce,
            issuedAt: issuedAt,
            expirationTime: expirationTime,
            notBefore: notBefore,
            requestID: requestID,
            resources: resources
        )
    }
}

/// Walks the lines of a message, remembering the current line number for error messages.
private struct LineReader {
    let lines: [ArraySlice<UInt8>]
    var index = 0

    /// The 1-based number of the line last returned by `next`.
    var lineNumber: Int { index }

    func peek() -> String? { index < lines.count ? String(decoding: lines[index], as: UTF8.self) : nil }

    mutating func next(_ what: String) throws(PrivacyPlaneError) -> String {
        guard index < lines.count else {
            throw PrivacyPlaneError(
                .malformedMessage,
                "line \(index + 1): expected \(what), found the end of the message"
            )
        }
        index += 1
        return String(decoding: lines[index - 1], as: UTF8.self)
    }

    func error(_ reason: String) -> PrivacyPlaneError {
        PrivacyPlaneError(.malformedMessage, "line \(lineNumber): \(reason)")
    }

    mutating func expectEmpty(_ what: String) throws(PrivacyPlaneError) {
        let line = try next(what)
        guard line.isEmpty else { throw error("expected \(what), found \(SIWEMessage.quoted(line))") }
    }

    /// The value of a required `tag` line (tags are case-sensitive, %s in the ABNF).
    mutating func tagged(_ tag: String) throws(PrivacyPlaneError) -> String {
        let line = try next("\"\(tag)…\"")
        guard line.hasPrefix(tag) else {
            throw error("expected \"\(tag)…\", found \(SIWEMessage.quoted(line)) (missing or out of order)")
        }
        return String(line.dropFirst(tag.count))
    }

    /// The value of an optional `tag` line, consumed only when it is next.
    mutating func optionalTagged(_ tag: String) -> String? {
        guard let line = peek(), line.hasPrefix(tag) else { return nil }
        index += 1
        return String(line.dropFirst(tag.count))
    }

    func timestamp(_ text: String, _ field: String) throws(PrivacyPlaneError) -> RFC3339Timestamp {
        do { return try RFC3339Timestamp(parsing: text) } catch { throw self.error("\(field): \(error.reason)") }
    }
}
