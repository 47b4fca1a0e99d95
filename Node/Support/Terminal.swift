/// Text from outside (an output's file names, a finding's place) made safe to print: control characters
/// (C0, DEL, C1: terminal escapes, carriage returns that overwrite a line) are shown as `\u{…}`.
enum Terminal {
    static func safe(_ text: String) -> String {
        var shown = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                shown += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                shown.unicodeScalars.append(scalar)
            }
        }
        return shown
    }
}
