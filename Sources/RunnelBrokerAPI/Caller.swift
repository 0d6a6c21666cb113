/// Who a broker operation runs for: the principal (`User:<api-key>`) and the client's address. Front ends bind it
/// around the work they do for a request (``Caller/current``); an ``AuthorizingBroker`` checks every operation
/// against it.
public struct Caller: Sendable, Hashable, CustomStringConvertible {
    public var principal: String
    /// The client's address, matched against an ACL's `host` (`*` matches any).
    public var host: String

    public init(principal: String, host: String = "") {
        self.principal = principal
        self.host = host
    }

    /// Kafka's principal for a client that did not authenticate.
    public static let anonymousPrincipal = "User:ANONYMOUS"

    /// The principal of an API key.
    public static func principal(ofKey key: String) -> String { "User:" + key }

    /// The caller of the operations the current task runs; nil outside any request or connector.
    @TaskLocal public static var current: Caller?

    public var description: String { host.isEmpty ? principal : "\(principal)@\(host)" }
}
