import HTTPTypes
import Hummingbird
import NIOCore
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelRecords

// v3 reads without a consumer: `GET .../partitions/{p}/records?offset=`.
extension ProxyController {
    // MARK: Stateless read

    /// Records of one partition from an offset, without a consumer instance or group.
    func readPartition(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let scope = try await scope(request, context)
        let (topic, partition) = try await v3Partition(request, context)
        let tp = try TopicPartition(topic: topic.name, partition: partition.partition)
        let query = request.uri.queryParameters
        let format: EmbeddedFormat
        switch query["format"].map({ String($0).lowercased() }) ?? "binary" {
        case "binary": format = .binary
        case "json": format = .json
        case "string": format = .string
        case let other: throw APIError.badRequest("format must be binary, json or string, not \(other)")
        }
        var offset: Int64
        if let text = query["offset"] {
            guard let value = Int64(text), value >= 0 else {
                throw APIError.badRequest("offset must be a whole number, not negative")
            }
            offset = value
        } else {
            offset = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.listOffset(tp, at: .earliest)
            }.offset
        }
        var maxBytes = 1_048_576
        if let text = query["max_bytes"] {
            guard let value = Int(text), value > 0 else {
                throw APIError.badRequest("max_bytes must be a positive whole number")
            }
            maxBytes = min(value, configuration.consumerRequestMaxBytes)
        }
        var timeout: Int64 = 0
        if let text = query["timeout"] {
            guard let value = Int64(text), value >= 0 else {
                throw APIError.badRequest("timeout must be a whole number of milliseconds, not negative")
            }
            timeout = min(value, 30_000)
        }
        let fetched = try await brokerCall { () async throws(BrokerError) in
            try await self.broker.fetch(
                FetchRequest(
                    partitions: [.init(tp, offset: offset)],
                    maxWaitMs: timeout,
                    minBytes: 1,
                    maxBytes: maxBytes,
                    maxPartitionBytes: maxBytes
                )
            )
        }
        guard let result = fetched.first else { throw APIError.partitionNotFound() }
        if let error = result.error {
            if error.code == .offsetOutOfRange {
                throw APIError(
                    .rangeNotSatisfiable,
                    416,
                    "Offset \(offset) is out of range: partition \(tp.partition) of \(tp.topic) holds offsets \(result.logStartOffset) to \(result.highWatermark) (exclusive)."
                )
            }
            throw APIError(error)
        }
        // Trim to max_bytes of keys and values (at least one record), as the v2 read does.
        var budget = maxBytes
        var records: [ConsumerRecord] = []
        var next = offset
        let decoded: [ConsumerRecord]
        do throws(BrokerError) {
            decoded = try result.records()
        } catch {
            throw APIError(error)
        }
        for record in decoded {
            let size = (record.key?.readableBytes ?? 0) + (record.value?.readableBytes ?? 0)
            if size > budget && !records.isEmpty { break }
            budget -= size
            records.append(record)
            next = record.offset + 1
        }
        if records.count == decoded.count { next = max(next, result.nextOffset) }

        let path = "/topics/\(tp.topic)/partitions/\(tp.partition)/records"
        var out = JSONWriter()
        out.raw("{\"kind\":\"KafkaRecordList\",\"metadata\":")
        out.value(
            [
                "self": .string("\(scope.clusterURL)\(path)?offset=\(offset)"),
                "next": .string("\(scope.clusterURL)\(path)?offset=\(next)"),
            ]
        )
        out.raw(",\"cluster_id\":")
        out.string(scope.clusterId)
        out.raw(",\"topic_name\":")
        out.string(tp.topic)
        out.raw(",\"partition_id\":")
        out.int(tp.partition)
        out.raw(",\"next_offset\":")
        out.int(next)
        out.raw(",\"log_start_offset\":")
        out.int(result.logStartOffset)
        out.raw(",\"high_watermark\":")
        out.int(result.highWatermark)
        out.raw(",\"data\":[")
        let type = format.rawValue.uppercased()
        for (index, record) in records.enumerated() {
            if index > 0 { out.raw(",") }
            out.raw("{\"partition_id\":")
            out.int(record.partition)
            out.raw(",\"offset\":")
            out.int(record.offset)
            out.raw(",\"timestamp\":")
            out.string(Timestamps.format(record.timestamp))
            out.raw(",\"timestamp_type\":")
            out.string(record.timestampType == .logAppendTime ? "LOG_APPEND_TIME" : "CREATE_TIME")
            for (name, data) in [("key", record.key), ("value", record.value)] {
                out.raw(",\"")
                out.rawText(name)
                out.raw("\":")
                if let data {
                    out.raw("{\"type\":")
                    out.string(type)
                    out.raw(",\"data\":")
                    try EmbeddedCodec.write(data, format: format, to: &out)
                    out.raw("}")
                } else {
                    out.raw("null")
                }
            }
            out.raw(",\"headers\":")
            EmbeddedCodec.writeHeaders(record.headers, nameField: "name", to: &out)
            out.raw("}")
        }
        out.raw("]}")
        return .json(bytes: out.buffer, holding: fetched.compactMap(\.memory))
    }
}
