import Testing

@testable import Sampling

@Suite struct NumberFormatTests {
    @Test(arguments: [
        (1234.567, 2, "1234.57"), (-0.004, 2, "0.00"), (0.05, 2, "0.05"), (-12.5, 1, "-12.5"), (7.0, 0, "7"),
        (-2.5, 0, "-3"), (0.001, 3, "0.001"), (99.999, 2, "100.00"),
    ])
    func noisedNumbersPrintWithTheSourceDecimals(value: Double, decimals: Int, text: String) {
        #expect(Sampler.formatNumber(value, decimals: decimals) == text)
    }
}
