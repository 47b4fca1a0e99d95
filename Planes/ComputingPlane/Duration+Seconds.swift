extension Duration {
    /// The duration in seconds, for wall times in results and reports.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
