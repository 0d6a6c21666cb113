/// What a topic has taken in and served since the process started: monotonic totals, read by whoever wants rates
/// (the dashboard's sampler takes differences).
public struct TopicTraffic: Sendable, Equatable {
    public var messagesIn: Int
    public var bytesIn: Int
    public var bytesOut: Int

    public init(messagesIn: Int = 0, bytesIn: Int = 0, bytesOut: Int = 0) {
        self.messagesIn = messagesIn
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
    }
}
