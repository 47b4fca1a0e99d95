extension Duration {
    /// The duration in seconds, for rates in command output.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
