import PlaneProtocol

/// Command output: the ordered JSON PlaneProtocol renders for the CLI and the plane's routes alike.
typealias JSONOutput = OrderedJSON
