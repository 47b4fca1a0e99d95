import ChainCore
import Foundation
import Testing

@testable import LightClient

/// The light client's JSON parser gives what JSONSerialization gives and refuses what it refuses.
@Suite struct JSONParserTests {
    func parse(_ text: String) throws -> Any { try JSONParser.parse(Array(text.utf8)) }

    @Test func aBlockObjectParsesAsJSONSerializationParsesIt() throws {
        var chain = FixtureChain()
        chain.extend(3)
        let object = FixtureChain.json(chain.headers[2])
        let bytes = try JSONSerialization.data(withJSONObject: ["jsonrpc": "2.0", "id": 7, "result": object])
        let ours = try #require(try JSONParser.parse([UInt8](bytes)) as? [String: Any])
        #expect(ours["id"] as? Int == 7)
        let result = try #require(ours["result"] as? [String: Any])
        #expect(try RPCJSON.header(result) == chain.headers[2])
        #expect(result.count == object.count)
    }

    @Test func scalarsEscapesAndNesting() throws {
        let v = try #require(
            try parse(#" {"a":[1,-2,3.5,1e3,true,false,null,"x\"\\\/\n\u00e9\ud83d\ude00"],"b":{}} "#) as? [String: Any]
        )
        let a = try #require(v["a"] as? [Any])
        #expect(a[0] as? Int == 1 && a[1] as? Int == -2 && a[2] as? Double == 3.5 && a[3] as? Double == 1000)
        #expect(a[4] as? Bool == true && a[5] as? Bool == false && a[6] is NSNull)
        #expect(a[7] as? String == "x\"\\/\né😀")
        #expect((v["b"] as? [String: Any])?.isEmpty == true)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "tru", "\"a", "\"\u{01}\"", "\"\\x\"", "\"\\ud800\"",
        "[1] 2", "{a:1}", "nul",
    ])
    func malformedInputIsRefused(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try parse(text) }
    }

    @Test func invalidUTF8AndDeepNestingAreRefused() {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(throws: JSONParser.Failure.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect((try? parse(fine)) != nil)
    }
}
