import ComputingPlane
import Testing

/// The failure summary names only Python's built-in exceptions and a line of a bundle file, never the message,
/// a job-defined class or a place the bundle does not have (the job writes its own stderr).
@Suite struct FailureSummaryTests {
    static let sources = ["main.py": 10, "lib/helpers.py": 20]

    @Test func aBuiltInExceptionIsNamedWithItsLineButNotItsMessage() {
        let log = """
            rows 3
            Traceback (most recent call last):
              File "/job/main.py", line 7, in <module>
                total += int(row["age"])
                         ^^^^^^^^^^^^^^^
            ValueError: invalid literal for int() with base 10: 'Alice Smith 1970-01-02'
            """
        let summary = FailureSummary.of(log: Array(log.utf8), sources: Self.sources)
        #expect(summary == "ValueError at main.py line 7")
        #expect(summary?.contains("Alice") == false)
    }

    @Test func aJobDefinedExceptionIsNotNamed() {
        let log = """
            Traceback (most recent call last):
              File "/job/lib/helpers.py", line 12, in leak
            __main__.Alice_Smith_1970_01_02: x
            """
        #expect(
            FailureSummary.of(log: Array(log.utf8), sources: Self.sources) == "an exception at lib/helpers.py line 12"
        )
    }

    @Test func theLastTracebackCountsAndAPlainExitHasNone() {
        let two = """
            Traceback (most recent call last):
              File "/job/main.py", line 1, in <module>
            KeyError: 'x'
            Traceback (most recent call last):
              File "/usr/lib/python3.11/json/__init__.py", line 293, in load
              File "/job/main.py", line 4, in <module>
            ZeroDivisionError: division by zero
            """
        #expect(FailureSummary.of(log: Array(two.utf8), sources: Self.sources) == "ZeroDivisionError at main.py line 4")
        #expect(FailureSummary.of(log: Array("exit 3 on purpose\n".utf8), sources: Self.sources) == nil)
    }

    @Test func aFabricatedPlaceIsNotRepeated() {
        let forged = """
            Traceback (most recent call last):
              File "/job/Alice Smith 1970-01-02.py", line 3, in <module>
              File "/job/main.py", line 123456, in <module>
            KeyError: 'x'
            """
        #expect(FailureSummary.of(log: Array(forged.utf8), sources: Self.sources) == "KeyError")
    }
}
