import RunnelBrokerAPI

/// Audit lines name things callers chose (a key id, a topic or group name): they are escaped for the log.
public enum Audit {
    /// At most 64 characters, with control characters, backslashes and non-ASCII escaped, so a caller's string can
    /// never start a line of its own or pass for another field.
    public static func printable(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars.prefix(64) {
            if scalar.value >= 0x20 && scalar.value < 0x7F && scalar != "\\" {
                result.unicodeScalars.append(scalar)
            } else {
                result += scalar.escaped(asASCII: true)
            }
        }
        return text.unicodeScalars.count > 64 ? result + "..." : result
    }
}
