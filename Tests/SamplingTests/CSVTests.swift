import Sampling
import Testing

@Suite struct CSVTests {
    @Test func quotedCommasQuotesNewlinesAndCRLFRoundTrip() throws {
        let text = "a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\r\nplain,,\"\"\n"
        let table = try CSVReader.parse(Array(text.utf8), name: "t.csv")
        #expect(table.header == ["a", "b", "c"])
        #expect(table.rows == [["x,1", "say \"hi\"", "two\nlines"], ["plain", "", ""]])
        let again = try CSVReader.parse(CSVWriter.write(table), name: "t.csv")
        #expect(again == table)
    }

    @Test func aFinalLineWithoutNewlineAndABOMAreAccepted() throws {
        let table = try CSVReader.parse([0xEF, 0xBB, 0xBF] + Array("a,b\n1,2".utf8), name: "t.csv")
        #expect(table.header == ["a", "b"])
        #expect(table.rows == [["1", "2"]])
    }

    @Test(arguments: [
        ("a,b\n1,\"open\n2,3\n", "line 2: unterminated quoted field"),
        ("a,b\n1,2\n3\n", "line 3: expected 2 fields (the header's width), found 1"),
        ("a,b\n1,x\"y\n", "line 2: quote inside an unquoted field"),
        ("a,b\n\"1\"x,2\n", "line 2: expected a comma or line end after a closing quote"),
        ("a,a\n1,2\n", "line 1: duplicate column name \"a\""),
        ("a,b\n1,2\r3,4\n", "line 2: bare carriage return"),
        ("", "empty file"),
    ])
    func malformedCSVNamesTheLine(input: String, message: String) {
        #expect {
            _ = try CSVReader.parse(Array(input.utf8), name: "t.csv")
        } throws: { error in
            guard let error = error as? SamplingError else { return false }
            return error.code == .malformedCSV && error.reason.contains("t.csv") && error.reason.contains(message)
        }
    }

    @Test func anOversizedFieldIsRefused() {
        let big = String(repeating: "x", count: 2000)
        #expect {
            _ = try CSVReader.parse(Array("a\n\(big)\n".utf8), name: "t.csv", limits: CSVLimits(maxFieldBytes: 1000))
        } throws: { error in
            (error as? SamplingError)?.reason.contains("line 2: field larger than 1000 bytes") == true
        }
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: SamplingError(.malformedCSV, "")) {
            _ = try CSVReader.parse(Array("a\n".utf8) + [0xFF, 0x0A], name: "t.csv")
        }
    }
}
