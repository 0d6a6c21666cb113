public import HTTPTypes
import RunnelJSON

extension HTTPField.Name {
    /// `cross-site`, `same-site`, `same-origin` or `none`: where a browser's request comes from (Fetch Metadata).
    public static let secFetchSite = named("Sec-Fetch-Site")
    /// `navigate` for a top-level navigation (a link, a bookmark), `cors`, `no-cors`, ... otherwise.
    public static let secFetchMode = named("Sec-Fetch-Mode")
    /// Sent by the dashboard's own calls: a header no cross-site form can send.
    public static let xRequestedWith = named("X-Requested-With")
    public static let xFrameOptions = named("X-Frame-Options")
    public static let referrerPolicy = named("Referrer-Policy")

    /// Every name above is a valid token, so `init?(_:)` never fails for them (a test checks each).
    private static func named(_ name: String) -> HTTPField.Name {
        HTTPField.Name(name) ?? .via
    }
}
