import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import RunnelJSON
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// Reads partitions directly with the stateless read, one long poll per partition at a time.
struct PartitionReader: RecordReader {
    let api: RunnelAPI
    let cluster: String
    let topic: String
    let starts: [(partition: Int, offset: Int64?)]

    static func start(api: RunnelAPI, topic: String, partition: Int?, offset: String) async throws -> PartitionReader {
        let cluster = try await api.clusterId()
        let description = try await api.call(.GET, api.v3(cluster, "/topics/\(RunnelAPI.segment(topic))"))
        let count = Int(description["partitions_count"]?.int64Value ?? 0)
        if let partition, partition >= count {
            throw ClientError("Topic \(topic) has \(count) partitions; there is no partition \(partition).")
        }
        var starts: [(Int, Int64?)] = []
        for id in partition.map({ [$0] }) ?? Array(0..<count) {
            switch offset {
            case "earliest": starts.append((id, nil))
            case "latest":
                let offsets = try await api.call(
                    .GET,
                    "\(api.proxy)/topics/\(RunnelAPI.segment(topic))/partitions/\(id)/offsets"
                )
                starts.append((id, offsets["end_offset"]?.int64Value ?? 0))
            default: starts.append((id, Int64(offset) ?? 0))
            }
        }
        return PartitionReader(api: api, cluster: cluster, topic: topic, starts: starts)
    }

    func read(into printer: RecordPrinter, idleTimeout: Duration?) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for start in starts {
                group.addTask { try await readPartition(start.partition, from: start.offset, printer, idleTimeout) }
            }
            // The partition that reaches the limit ends them all; an idle one ends alone.
            while let limitReached = try await group.next() {
                if limitReached {
                    group.cancelAll()
                    return
                }
            }
        }
    }

    /// Prints one partition's records; true when the printer's limit was reached.
    private func readPartition(
        _ partition: Int,
        from start: Int64?,
        _ printer: RecordPrinter,
        _ idle: Duration?
    ) async throws -> Bool {
        var next = start
        var lastRecord = ContinuousClock.now
        let path = api.v3(cluster, "/topics/\(RunnelAPI.segment(topic))/partitions/\(partition)/records")
        while !Task.isCancelled {
            let url = path + "?format=binary&max_bytes=4194304&timeout=1000" + (next.map { "&offset=\($0)" } ?? "")
            let reply = try await api.send(.GET, url)
            if reply.status == 416 {
                // Retention removed the records before us: go on from the partition's first.
                next = nil
                continue
            }
            try RunnelAPI.check(reply)
            var nextOffset: Int64?
            let more = try await printer.print(reply.body) { (reader: inout JSONReader) throws(JSONError) in
                // Up to the records: `data` comes last, after `next_offset`.
                try reader.beginObject()
                while let key = try reader.nextKey(), key != "data" { try reader.skipValue() }
            }
            nextOffset = Self.nextOffset(in: reply.body)
            guard more else { return true }
            if let nextOffset, nextOffset != next {
                next = nextOffset
                lastRecord = .now
            } else if let idle, ContinuousClock.now - lastRecord > idle {
                return false
            }
        }
        return false
    }

    func finish(printed: RecordPrinter) async throws {}

    /// The `next_offset` of a record list (it comes before `data`, so the records are not read).
    static func nextOffset(in body: ByteBuffer) -> Int64? {
        body.withUnsafeReadableBytes { bytes in
            var reader = JSONReader(bytes)
            do {
                try reader.beginObject()
                while let key = try reader.nextKey(), key != "data" {
                    if key == "next_offset" { return try reader.readInt64() }
                    try reader.skipValue()
                }
            } catch {}
            return nil
        }
    }
}

/// Reads as a member of a consumer group, through a v2 consumer instance that commits what was printed.
struct GroupReader: RecordReader {
    let api: RunnelAPI
    let group: String
    let instance: String
    let topic: String

    var base: String { "\(api.proxy)/consumers/\(RunnelAPI.segment(group))/instances/\(RunnelAPI.segment(instance))" }
    static let v2 = "application/vnd.kafka.v2+json"

    static func start(
        api: RunnelAPI,
        group: String,
        topic: String,
        partition: Int?,
        fromBeginning: Bool
    ) async throws -> GroupReader {
        let name = "runnel-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try await api.call(
            .POST,
            "\(api.proxy)/consumers/\(RunnelAPI.segment(group))",
            json: [
                "name": .string(name), "format": "binary", "auto.offset.reset": fromBeginning ? "earliest" : "latest",
                "auto.commit.enable": "false",
            ],
            contentType: v2,
            accept: v2
        )
        let reader = GroupReader(api: api, group: group, instance: name, topic: topic)
        do {
            if let partition {
                try await api.call(
                    .POST,
                    reader.base + "/assignments",
                    json: ["partitions": [["topic": .string(topic), "partition": .int(partition)]]],
                    contentType: v2,
                    accept: v2
                )
            } else {
                try await api.call(
                    .POST,
                    reader.base + "/subscription",
                    json: ["topics": [.string(topic)]],
                    contentType: v2,
                    accept: v2
                )
            }
        } catch {
            _ = try? await api.send(.DELETE, reader.base, contentType: v2, accept: v2)
            throw error
        }
        return reader
    }

    func read(into printer: RecordPrinter, idleTimeout: Duration?) async throws {
        var lastRecord = ContinuousClock.now
        while !Task.isCancelled {
            let reply = try await api.send(
                .GET,
                base + "/records?timeout=1000&max_bytes=4194304",
                accept: "application/vnd.kafka.binary.v2+json"
            )
            try RunnelAPI.check(reply)
            let before = printer.count
            let more = try await printer.print(reply.body) { _ in }
            if printer.count > before { try await commit(printer) }
            guard more else { return }
            if printer.count > before {
                lastRecord = .now
            } else if let idleTimeout, ContinuousClock.now - lastRecord > idleTimeout {
                return
            }
        }
    }

    /// Commits the positions printed so far (v2 commits take the last offset read, and store the one after it).
    private func commit(_ printer: RecordPrinter) async throws {
        let positions = printer.positions
        guard !positions.isEmpty else { return }
        let offsets: [JSONValue] = positions.sorted { $0.key < $1.key }.map {
            ["topic": .string(topic), "partition": .int($0.key), "offset": .int($0.value - 1)]
        }
        try await api.call(
            .POST,
            base + "/offsets",
            json: ["offsets": .array(offsets)],
            contentType: Self.v2,
            accept: Self.v2
        )
    }

    func finish(printed: RecordPrinter) async throws {
        let committed: Result<Void, any Error>
        do {
            try await commit(printed)
            committed = .success(())
        } catch {
            committed = .failure(error)
        }
        _ = try? await api.send(.DELETE, base, contentType: Self.v2, accept: Self.v2)
        try committed.get()
    }
}
