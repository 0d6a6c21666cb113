import Foundation
public import RunnelBrokerAPI
public import ServiceLifecycle
import Synchronization

/// Samples the cluster's traffic every few seconds into a ring buffer, so the dashboard can draw the last minutes
/// without an external Prometheus: bytes and messages per second of each topic (from the broker's traffic totals)
/// and the total lag of each consumer group.
public final class TrafficSampler: Service, Sendable {
    public struct Rates: Sendable, Equatable {
        public var bytesIn = 0.0
        public var bytesOut = 0.0
        public var messagesIn = 0.0
    }

    public struct Sample: Sendable {
        /// Milliseconds since the epoch.
        public var time: Int64
        public var cluster: Rates
        public var topics: [String: Rates]
        /// Total lag of each group's committed partitions (groups that have committed nothing are left out).
        public var groupLag: [String: Int64]
    }

    public let interval: Duration
    public let capacity: Int
    /// Groups whose lag is sampled, at most (the first by name); bounds the work of an idle server.
    static let maximumGroups = 100
    private let broker: any Broker
    private let totals: @Sendable () -> [String: TopicTraffic]
    private let state: Mutex<State>

    private struct State {
        var samples: [Sample] = []
        var next = 0
        var previous: (time: ContinuousClock.Instant, totals: [String: TopicTraffic])?
    }

    public init(
        broker: any Broker,
        interval: Duration = .seconds(2),
        capacity: Int = 300,
        totals: @escaping @Sendable () -> [String: TopicTraffic]
    ) {
        self.broker = broker
        self.interval = interval
        self.capacity = max(capacity, 1)
        self.totals = totals
        state = Mutex(State())
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.sample()
                do { try await Task.sleep(for: self.interval) } catch { return }
            }
        }
    }

    /// The samples in time order, oldest first.
    public func samples() -> [Sample] {
        state.withLock { state in
            Array(state.samples[state.next...] + state.samples[..<state.next])
        }
    }

    /// Takes one sample now. The first one only records the totals it measures rates from.
    public func sample() async {
        let now = ContinuousClock.now
        let current = totals()
        var lags: [String: Int64] = [:]
        let groups = ((try? await broker.listGroups()) ?? []).map(\.groupId).sorted().prefix(Self.maximumGroups)
        for group in groups {
            // Partitions without a committed offset have no lag; a group with none has no point.
            guard let partitions = try? await broker.groupLag(group) else { continue }
            let known = partitions.compactMap(\.lag)
            if !known.isEmpty { lags[group] = known.reduce(0) { $0 + max($1, 0) } }
        }
        let time = Int64(Date().timeIntervalSince1970 * 1000)
        state.withLock { state in
            defer { state.previous = (now, current) }
            guard let previous = state.previous else { return }
            let elapsed = (now - previous.time).components
            let seconds = max(Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18, 0.001)
            var sample = Sample(time: time, cluster: Rates(), topics: [:], groupLag: lags)
            for (topic, totals) in current {
                let before = previous.totals[topic] ?? TopicTraffic()
                let rates = Rates(
                    bytesIn: Double(max(totals.bytesIn - before.bytesIn, 0)) / seconds,
                    bytesOut: Double(max(totals.bytesOut - before.bytesOut, 0)) / seconds,
                    messagesIn: Double(max(totals.messagesIn - before.messagesIn, 0)) / seconds
                )
                sample.topics[topic] = rates
                sample.cluster.bytesIn += rates.bytesIn
                sample.cluster.bytesOut += rates.bytesOut
                sample.cluster.messagesIn += rates.messagesIn
            }
            if state.samples.count < capacity {
                state.samples.append(sample)
            } else {
                state.samples[state.next] = sample
                state.next = (state.next + 1) % capacity
            }
        }
    }
}
