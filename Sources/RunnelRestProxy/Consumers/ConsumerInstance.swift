import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelRecords
import Synchronization

/// A v2 consumer instance: a Kafka consumer living in the proxy, addressed by group and name.
///
/// Its positions, subscription and assignment are guarded by a mutex; the group membership of a subscribed instance
/// is kept by the ``ConsumerManager`` in the background (heartbeats and rebalances do not wait for the client to
/// poll, so a slow client never stalls its group's rebalance).
final class ConsumerInstance: Sendable {
    enum OffsetReset: String, Sendable {
        case earliest, latest, none
    }

    enum Subscription: Sendable, Equatable {
        case topics([String])
        case pattern(String)
    }

    enum Mode: Sendable, Equatable {
        case idle
        case subscribed(Subscription)
        case assigned
    }

    struct Membership: Sendable {
        var memberId: String
        var generationId: Int32
    }

    struct State: Sendable {
        var mode: Mode = .idle
        /// Bumped on every subscribe/unsubscribe/assign, so a membership loop can tell it is out of date.
        var modeVersion = 0
        /// The partitions this instance reads: its manual assignment, or its share of the group's.
        var assignment: [TopicPartition] = []
        /// The topics a pattern subscription matched at its last join.
        var matchedTopics: [String] = []
        var membership: Membership?
        /// The next offset to read per assigned partition; missing: look up the committed offset or reset.
        var positions: [TopicPartition: Int64] = [:]
        var lastUsedMs: Int64
        var lastAutoCommitMs: Int64
        var closed = false
        /// Why the group membership gave up (the caller may not read the group): every read fails with it.
        var failure: BrokerError?
    }

    let group: String
    let name: String
    let format: EmbeddedFormat
    let offsetReset: OffsetReset
    let autoCommit: Bool
    let fetchMinBytes: Int
    let requestTimeoutMs: Int64
    /// Who created the instance: only they may use it, and its background work (heartbeats, commits on close) runs
    /// as them.
    let owner: Caller?
    let state: Mutex<State>

    init(
        group: String,
        name: String,
        format: EmbeddedFormat,
        offsetReset: OffsetReset,
        autoCommit: Bool,
        fetchMinBytes: Int,
        requestTimeoutMs: Int64,
        now: Int64
    ) {
        self.group = group
        self.name = name
        self.format = format
        self.offsetReset = offsetReset
        self.autoCommit = autoCommit
        self.fetchMinBytes = fetchMinBytes
        self.requestTimeoutMs = requestTimeoutMs
        self.owner = Caller.current
        self.state = Mutex(State(lastUsedMs: now, lastAutoCommitMs: now))
    }

    var clientId: String { "rest-\(name)" }

    /// The topics named by the subscription (a pattern's current matches).
    var subscribedTopics: [String] {
        state.withLock { state in
            switch state.mode {
            case .subscribed(.topics(let topics)): topics
            case .subscribed(.pattern): state.matchedTopics
            default: []
            }
        }
    }

    /// Applies a new generation of the group: the new assignment, keeping the positions of partitions it still has.
    func applyGeneration(_ generation: GroupMembership.Generation, modeVersion: Int, matchedTopics: [String]) -> Bool {
        state.withLock { state in
            guard state.modeVersion == modeVersion, !state.closed else { return false }
            state.membership = Membership(memberId: generation.memberId, generationId: generation.generationId)
            state.assignment = generation.assignment
            state.matchedTopics = matchedTopics
            let kept = Set(generation.assignment)
            state.positions = state.positions.filter { kept.contains($0.key) }
            return true
        }
    }

    /// Called when the group starts a rebalance: until the next generation this member reads nothing.
    func revokeForRebalance(modeVersion: Int) {
        state.withLock { state in
            guard state.modeVersion == modeVersion else { return }
            state.membership = nil
        }
    }

    /// Positions to commit: those of the assigned partitions that have been read from.
    func positionsToCommit() -> ([TopicPartition: Int64], Membership?) {
        state.withLock { state in
            let assigned = Set(state.assignment)
            return (state.positions.filter { assigned.contains($0.key) }, state.membership)
        }
    }
}
