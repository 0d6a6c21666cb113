import Foundation
import Logging
import NIOPosix
import RunnelBrokerAPI
import RunnelRecords
import ServiceLifecycle

// A connector's offsets: reading them, and moving or resetting them while it is stopped (KIP-875).
extension ConnectWorker {
    // MARK: Offsets

    public func offsets(_ name: String) async throws(WorkerError) -> [ConnectorOffset] {
        let entry = try entry(name)
        switch entry.plugin.type {
        case .source:
            do throws(ConnectError) {
                return try await store.sourceOffsets(connector: name).map { partition, offset in
                    ConnectorOffset(
                        partition: (try? ConnectJSON.parse(partition)) ?? .null,
                        offset: (try? ConnectJSON.parse(offset)) ?? .null
                    )
                }
            } catch {
                throw .failed(error.message)
            }
        case .sink:
            let committed: [TopicPartition: CommittedOffset]
            do {
                committed = try await broker.fetchCommittedOffsets(groupId: Self.sinkGroup(name), partitions: nil)
            } catch {
                throw WorkerError(error)
            }
            return committed.sorted { $0.key < $1.key }
                .map { (tp: TopicPartition, offset: CommittedOffset) -> ConnectorOffset in
                    ConnectorOffset(
                        partition: .object(
                            ConnectObject([
                                ("kafka_topic", .string(tp.topic)), ("kafka_partition", .int(Int64(tp.partition))),
                            ])
                        ),
                        offset: .object(ConnectObject([("kafka_offset", .int(offset.offset))]))
                    )
                }
        }
    }

    private func requireStopped(_ name: String) throws(WorkerError) -> Entry {
        let entry = try entry(name)
        guard entry.targetState == .stopped else {
            throw .badRequest(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/\(name)/stop' endpoint"
            )
        }
        return entry
    }

    /// Alters (or, with a null offset, resets) the offsets of a stopped connector. Returns the message to show.
    public func alterOffsets(_ name: String, _ offsets: [ConnectorOffset]) async throws(WorkerError) -> String {
        try await serialized { () async throws(WorkerError) in try await alterOffsetsNow(name, offsets) }
    }

    private func alterOffsetsNow(_ name: String, _ offsets: [ConnectorOffset]) async throws(WorkerError) -> String {
        let entry = try requireStopped(name)
        guard !offsets.isEmpty else { throw .badRequest("The offsets to be altered may not be null or empty") }
        switch entry.plugin.type {
        case .source:
            var changes: [(partition: String, offset: String?)] = []
            for item in offsets {
                guard case .object(let partition) = item.partition else {
                    throw .badRequest("Source partitions may not be null")
                }
                switch item.offset {
                case .null: changes.append((ConnectJSON.canonicalText(partition), nil))
                case .object(let offset):
                    changes.append((ConnectJSON.canonicalText(partition), ConnectJSON.canonicalText(offset)))
                default: throw .badRequest("Source offsets must be JSON objects or null")
                }
            }
            do {
                try await store.commitSourceOffsets(connector: name, changes)
            } catch {
                throw .failed(error.message)
            }
            return
                "The Connect framework-managed offsets for this connector have been altered successfully. However, if this connector manages offsets externally, they will need to be manually altered in the system that the connector uses."
        case .sink:
            var alter: [TopicPartition: CommittedOffset] = [:]
            var reset: Set<TopicPartition> = []
            for item in offsets {
                guard case .object(let partition) = item.partition,
                    case .string(let topic)? = partition["kafka_topic"],
                    let partitionNumber = Self.intValue(partition["kafka_partition"]),
                    let partitionId = Int32(exactly: partitionNumber)
                else {
                    throw .badRequest(
                        "Sink partitions must have the keys 'kafka_topic' (a string) and 'kafka_partition' (an integer): \(item.partition.text)"
                    )
                }
                guard let tp = try? TopicPartition(topic: topic, partition: partitionId) else {
                    throw .badRequest("Invalid sink partition \(topic)-\(partitionId)")
                }
                switch item.offset {
                case .null: reset.insert(tp)
                case .object(let offset):
                    guard let value = Self.intValue(offset["kafka_offset"]), value >= 0 else {
                        throw .badRequest(
                            "Sink offsets must have the key 'kafka_offset' with a non-negative integer: \(item.offset.text)"
                        )
                    }
                    alter[tp] = CommittedOffset(offset: value)
                default: throw .badRequest("Sink offsets must be JSON objects or null")
                }
            }
            do {
                let group = Self.sinkGroup(name)
                if !reset.isEmpty {
                    // Kafka deletes those partitions' offsets; the group's other offsets are committed again after.
                    let committed = try await broker.fetchCommittedOffsets(groupId: group, partitions: nil)
                    do {
                        try await broker.deleteGroup(group)
                    } catch {
                        if error.code != .groupIdNotFound { throw error }
                    }
                    for (tp, offset) in committed where !reset.contains(tp) && alter[tp] == nil { alter[tp] = offset }
                }
                if !alter.isEmpty {
                    let result = try await broker.commitOffsets(OffsetCommitRequest(groupId: group, offsets: alter))
                    if let (tp, error) = result.failed.first {
                        throw WorkerError.badRequest(
                            "Cannot alter the offset of \(tp.topic)-\(tp.partition): \(error.message)"
                        )
                    }
                }
            } catch let error as WorkerError {
                throw error
            } catch let error as BrokerError {
                throw WorkerError(error)
            } catch {
                throw .failed("\(error)")
            }
            return "The offsets for this connector have been altered successfully"
        }
    }

    public func resetOffsets(_ name: String) async throws(WorkerError) -> String {
        try await serialized { () async throws(WorkerError) in try await resetOffsetsNow(name) }
    }

    private func resetOffsetsNow(_ name: String) async throws(WorkerError) -> String {
        let entry = try requireStopped(name)
        switch entry.plugin.type {
        case .source:
            do {
                try await store.deleteSourceOffsets(connector: name)
            } catch {
                throw .failed(error.message)
            }
            return
                "The Connect framework-managed offsets for this connector have been reset successfully. However, if this connector manages offsets externally, they will need to be manually reset in the system that the connector uses."
        case .sink:
            do {
                try await broker.deleteGroup(Self.sinkGroup(name))
            } catch {
                if error.code != .groupIdNotFound { throw WorkerError(error) }
            }
            return "The offsets for this connector have been reset successfully"
        }
    }

    /// A config as Java prints a map (`{k=v, ...}`), secrets hidden: how Kafka quotes a config in its messages.
    public static func javaMap(_ config: [String: String], definition: ConfigDef?) -> String {
        let shown = ConnectorConfig.redacted(config, definition: definition)
        return "{" + shown.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ") + "}"
    }

    static func intValue(_ value: ConnectValue?) -> Int64? {
        switch value {
        case .int(let number): number
        case .string(let text): Int64(text)
        default: nil
        }
    }

    /// The consumer group of a sink connector (Kafka's `connect-<name>`).
    public static func sinkGroup(_ name: String) -> String { "connect-\(name)" }
}
