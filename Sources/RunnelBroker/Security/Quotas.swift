public import RunnelBrokerAPI
import Synchronization

/// A principal's byte-rate quotas (Kafka's `producer_byte_rate` and `consumer_byte_rate` user configs), in bytes per
/// second; nil: none of its own (the `<default>` entry's applies, if any).
public struct Quota: Sendable, Hashable {
    /// `User:<key>`, or ``Quota/defaultPrincipal``.
    public var principal: String
    public var producerByteRate: Int64?
    public var consumerByteRate: Int64?

    public init(principal: String, producerByteRate: Int64? = nil, consumerByteRate: Int64? = nil) {
        self.principal = principal
        self.producerByteRate = producerByteRate
        self.consumerByteRate = consumerByteRate
    }

    /// The entry that applies to every principal without its own (Kafka's default user entity).
    public static let defaultPrincipal = "<default>"
}

/// Byte-rate quotas per principal, enforced as Kafka does: a request over its principal's rate is served, then its
/// answer is delayed until the principal is back within the rate; only a request that would wait longer than
/// ``maxThrottleMs`` is refused (THROTTLING_QUOTA_EXCEEDED, answered 429) without being served. Rates are token
/// buckets holding one second of bytes.
public final class Quotas: Sendable {
    public enum Direction: Sendable { case produce, fetch }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private struct State {
        var quotas: [String: Quota] = [:]
        var buckets: [String: Bucket] = [:]
    }

    private let catalog: MetadataCatalog
    private let state: Mutex<State>
    /// The longest an answer is delayed; a request that would need more is refused.
    public let maxThrottleMs: Int64

    init(catalog: MetadataCatalog, maxThrottleMs: Int64 = 30_000) async throws(BrokerError) {
        self.catalog = catalog
        self.maxThrottleMs = maxThrottleMs
        var quotas: [String: Quota] = [:]
        for quota in try await catalog.loadQuotas() { quotas[quota.principal] = quota }
        state = Mutex(State(quotas: quotas))
    }

    // MARK: Managing quotas

    public func list() -> [Quota] {
        state.withLock { $0.quotas.values.sorted { $0.principal < $1.principal } }
    }

    /// Sets a principal's quotas (both nil removes its entry).
    public func set(_ quota: Quota) async throws(BrokerError) {
        for rate in [quota.producerByteRate, quota.consumerByteRate] {
            if let rate, rate <= 0 { throw BrokerError(.invalidRequest, "A byte rate must be positive, not \(rate)") }
        }
        guard quota.producerByteRate != nil || quota.consumerByteRate != nil else {
            _ = try await delete(quota.principal)
            return
        }
        try await catalog.setQuota(quota)
        state.withLock { state in
            state.quotas[quota.principal] = quota
            state.buckets = state.buckets.filter { !$0.key.hasSuffix("|" + quota.principal) }
        }
    }

    public func delete(_ principal: String) async throws(BrokerError) -> Bool {
        let existed = try await catalog.deleteQuota(principal)
        state.withLock { state in
            state.quotas[principal] = nil
            state.buckets = state.buckets.filter { !$0.key.hasSuffix("|" + principal) }
        }
        return existed
    }

    // MARK: Enforcing

    private static func rate(_ quota: Quota?, _ direction: Direction) -> Int64? {
        switch direction {
        case .produce: quota?.producerByteRate
        case .fetch: quota?.consumerByteRate
        }
    }

    /// Whether `bytes` more would need a longer wait than ``maxThrottleMs`` (then the request is refused unserved).
    func check(_ principal: String, _ direction: Direction, bytes: Int) throws(BrokerError) {
        let now = ContinuousClock.now
        let wait = state.withLock { state -> Double in
            guard let (rate, bucket) = Self.bucket(&state, principal, direction, now) else { return 0 }
            return max(0, Double(bytes) - bucket.tokens) / Double(rate)
        }
        if wait * 1000 > Double(maxThrottleMs) {
            throw BrokerError(
                .throttlingQuotaExceeded,
                "\(principal) is over its \(direction == .produce ? "producer" : "consumer") byte-rate quota: this request would wait \(Int64(wait * 1000)) ms, more than the \(maxThrottleMs) ms allowed"
            )
        }
    }

    /// Counts `bytes` served and returns how long the answer must wait (zero within the quota).
    func record(_ principal: String, _ direction: Direction, bytes: Int) -> Duration {
        let now = ContinuousClock.now
        return state.withLock { state -> Duration in
            guard let (rate, bucket) = Self.bucket(&state, principal, direction, now) else { return .zero }
            let key = Self.key(principal, direction)
            let tokens = bucket.tokens - Double(bytes)
            state.buckets[key] = Bucket(tokens: tokens, updated: now)
            guard tokens < 0 else { return .zero }
            return .milliseconds(min(Int64(-tokens / Double(rate) * 1000), maxThrottleMs))
        }
    }

    private static func key(_ principal: String, _ direction: Direction) -> String {
        (direction == .produce ? "p|" : "f|") + principal
    }

    /// The principal's rate and its bucket refilled up to now; nil when no quota applies.
    private static func bucket(
        _ state: inout State,
        _ principal: String,
        _ direction: Direction,
        _ now: ContinuousClock.Instant
    ) -> (Int64, Bucket)? {
        guard
            let rate = rate(state.quotas[principal], direction)
                ?? rate(state.quotas[Quota.defaultPrincipal], direction)
        else { return nil }
        let key = key(principal, direction)
        let capacity = Double(rate)
        var bucket = state.buckets[key] ?? Bucket(tokens: capacity, updated: now)
        let elapsed = now - bucket.updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        bucket.tokens = min(capacity, bucket.tokens + seconds * capacity)
        bucket.updated = now
        state.buckets[key] = bucket
        return (rate, bucket)
    }
}
