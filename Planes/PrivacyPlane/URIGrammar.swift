/// The parts of RFC 3986 that EIP-4361 refers to, checked on ASCII bytes.
///
/// Only validation: nothing is normalised or decoded, so a checked field serialises back unchanged.
enum URIGrammar {
    static func isAlpha(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isHexDigit(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
    }
    /// unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
    static func isUnreserved(_ c: UInt8) -> Bool {
        isAlpha(c) || isDigit(c) || c == 0x2D || c == 0x2E || c == 0x5F || c == 0x7E
    }
    /// sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="
    static func isSubDelim(_ c: UInt8) -> Bool { Array("!$&'()*+,;=".utf8).contains(c) }
    /// gen-delims = ":" / "/" / "?" / "#" / "[" / "]" / "@"
    static func isGenDelim(_ c: UInt8) -> Bool { Array(":/?#[]@".utf8).contains(c) }
    /// reserved = gen-delims / sub-delims
    static func isReserved(_ c: UInt8) -> Bool { isGenDelim(c) || isSubDelim(c) }

    /// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    static func isScheme(_ s: ArraySlice<UInt8>) -> Bool {
        guard let first = s.first, isAlpha(first) else { return false }
        return s.dropFirst().allSatisfy { isAlpha($0) || isDigit($0) || $0 == 0x2B || $0 == 0x2D || $0 == 0x2E }
    }

    /// Whether `s` is a run of `allowed` characters and pct-encoded triplets ("%" HEXDIG HEXDIG).
    static func isPercentEncodedRun(_ s: ArraySlice<UInt8>, allowing allowed: (UInt8) -> Bool) -> Bool {
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c == 0x25 {
                guard i + 2 < s.endIndex, isHexDigit(s[i + 1]), isHexDigit(s[i + 2]) else { return false }
                i += 3
            } else {
                guard allowed(c) else { return false }
                i += 1
            }
        }
        return true
    }

    /// pchar = unreserved / pct-encoded / sub-delims / ":" / "@"
    static func isPcharOrPct(_ c: UInt8) -> Bool { isUnreserved(c) || isSubDelim(c) || c == 0x3A || c == 0x40 }

    /// request-id = *pchar
    static func isPcharRun(_ s: ArraySlice<UInt8>) -> Bool { isPercentEncodedRun(s, allowing: isPcharOrPct) }

    /// authority = [ userinfo "@" ] host [ ":" port ]; with `requireHost`, the host may not be empty.
    static func isAuthority(_ s: ArraySlice<UInt8>, requireHost: Bool) -> Bool {
        var rest = s
        if let at = rest.firstIndex(of: 0x40) {
            let userinfo = rest[rest.startIndex..<at]
            guard isPercentEncodedRun(userinfo, allowing: { isUnreserved($0) || isSubDelim($0) || $0 == 0x3A })
            else { return false }
            rest = rest[(at + 1)...]
        }
        let host: ArraySlice<UInt8>
        var port: ArraySlice<UInt8>? = nil
        if rest.first == 0x5B {
            guard let close = rest.firstIndex(of: 0x5D) else { return false }
            host = rest[rest.startIndex...close]
            let after = rest[(close + 1)...]
            if !after.isEmpty {
                guard after.first == 0x3A else { return false }
                port = after.dropFirst()
            }
            guard isIPLiteral(host) else { return false }
        } else {
            if let colon = rest.firstIndex(of: 0x3A) {
                host = rest[rest.startIndex..<colon]
                port = rest[(colon + 1)...]
            } else {
                host = rest
            }
            // reg-name = *( unreserved / pct-encoded / sub-delims ); IPv4address is a subset of it.
            guard isPercentEncodedRun(host, allowing: { isUnreserved($0) || isSubDelim($0) }) else { return false }
        }
        if requireHost && host.isEmpty { return false }
        if let port, !port.allSatisfy(isDigit) { return false }
        return true
    }

    /// IP-literal = "[" ( IPv6address / IPvFuture ) "]"
    static func isIPLiteral(_ s: ArraySlice<UInt8>) -> Bool {
        guard s.count >= 2, s.first == 0x5B, s.last == 0x5D else { return false }
        let inner = s.dropFirst().dropLast()
        if let v = inner.first, v == 0x76 || v == 0x56 {
            // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
            let body = inner.dropFirst()
            guard let dot = body.firstIndex(of: 0x2E) else { return false }
            let version = body[body.startIndex..<dot]
            let rest = body[(dot + 1)...]
            return !version.isEmpty && version.allSatisfy(isHexDigit) && !rest.isEmpty
                && rest.allSatisfy { isUnreserved($0) || isSubDelim($0) || $0 == 0x3A }
        }
        return isIPv6(inner)
    }

    /// IPv6address (RFC 3986 §3.2.2): eight h16 groups, or fewer with one "::", the last two may be an IPv4.
    static func isIPv6(_ s: ArraySlice<UInt8>) -> Bool {
        let bytes = Array(s)
        var doubleColon: Int? = nil
        for i in 0..<max(0, bytes.count - 1) where bytes[i] == 0x3A && bytes[i + 1] == 0x3A {
            guard doubleColon == nil else { return false }  // at most one "::" (and no ":::")
            doubleColon = i
        }
        func groups(_ part: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
            part.isEmpty ? [] : part.split(separator: 0x3A, omittingEmptySubsequences: false)
        }
        let all: [ArraySlice<UInt8>]
        if let d = doubleColon {
            all = groups(bytes[..<d]) + groups(bytes[(d + 2)...])
        } else {
            all = groups(bytes[...])
        }
        var count = 0
        for (index, group) in all.enumerated() {
            if index == all.count - 1 && group.contains(0x2E) {
                guard isIPv4(group) else { return false }
                count += 2
            } else {
                guard (1...4).contains(group.count), group.allSatisfy(isHexDigit) else { return false }
                count += 1
            }
        }
        return doubleColon != nil ? count <= 7 : count == 8
    }

    /// IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet (no leading zeros).
    static func isIPv4(_ s: ArraySlice<UInt8>) -> Bool {
        let parts = s.split(separator: 0x2E, omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(isDigit) else { return false }
            if part.count > 1 && part.first == 0x30 { return false }
            guard Int(String(decoding: part, as: UTF8.self))! <= 255 else { return false }
        }
        return true
    }

    /// URI = scheme ":" hier-part [ "?" query ] [ "#" fragment ]
    static func isURI(_ s: ArraySlice<UInt8>) -> Bool {
        guard let colon = s.firstIndex(of: 0x3A), isScheme(s[s.startIndex..<colon]) else { return false }
        var rest = s[(colon + 1)...]
        var fragment: ArraySlice<UInt8>? = nil
        if let hash = rest.firstIndex(of: 0x23) {
            fragment = rest[(hash + 1)...]
            rest = rest[rest.startIndex..<hash]
        }
        var query: ArraySlice<UInt8>? = nil
        if let question = rest.firstIndex(of: 0x3F) {
            query = rest[(question + 1)...]
            rest = rest[rest.startIndex..<question]
        }
        var path = rest
        if rest.starts(with: [0x2F, 0x2F]) {
            let afterSlashes = rest.dropFirst(2)
            let end = afterSlashes.firstIndex(of: 0x2F) ?? afterSlashes.endIndex
            guard isAuthority(afterSlashes[afterSlashes.startIndex..<end], requireHost: false) else { return false }
            path = afterSlashes[end...]
        }
        // path-abempty / path-absolute / path-rootless / path-empty: segments of pchar separated by "/".
        guard isPercentEncodedRun(path, allowing: { isPcharOrPct($0) || $0 == 0x2F }) else { return false }
        let queryOrFragment: (UInt8) -> Bool = { isPcharOrPct($0) || $0 == 0x2F || $0 == 0x3F }
        if let query, !isPercentEncodedRun(query, allowing: queryOrFragment) { return false }
        if let fragment, !isPercentEncodedRun(fragment, allowing: queryOrFragment) { return false }
        return true
    }
}
