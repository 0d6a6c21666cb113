import HTTPTypes
import Hummingbird
import NIOCore
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelRecords

/// v2 metadata and produce: `/topics`, `/topics/{t}/partitions...`, `/brokers`.
struct V2Controller: ProxyController {
    let broker: any Broker
    let configuration: RestProxyConfiguration

    func register<Context: RequestContext>(on routes: RouteTable<Context>) {
        routes.get("/") { request, _ in
            .json([:], contentType: try V2Negotiation.responseType(request))
        }
        // It reads and ignores any body, and changes nothing.
        routes.accepting(.any).post("/") { request, _ in
            _ = try await request.collectBody(limit: self.configuration.maxRequestBytes)
            return .json([:], contentType: try V2Negotiation.responseType(request))
        }
        routes.get("/brokers") { request, _ in
            let type = try V2Negotiation.responseType(request)
            let cluster = try await brokerCall { () async throws(BrokerError) in try await self.broker.describeCluster()
            }
            return .json(["brokers": .array(cluster.brokers.map { .int($0.nodeId) })], contentType: type)
        }
        routes.get("/topics") { request, _ in
            let type = try V2Negotiation.responseType(request)
            let topics = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.listTopics(includeInternal: true)
            }
            return .json(.array(topics.map { .string($0.name) }), contentType: type)
        }
        routes.get("/topics/{topic_name}") { request, context in
            let type = try V2Negotiation.responseType(request)
            let topic = try await self.topic(try context.requiredParameter("topic_name"))
            let configs = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.describeTopicConfigs(topic.name)
            }
            let body: JSONValue = [
                "name": .string(topic.name),
                "configs": .object(
                    configs.map { ($0.name, $0.isSensitive ? .null : JSONValue.optionalString($0.value)) }
                ),
                "partitions": .array(topic.partitions.map(Self.v2Partition)),
            ]
            return .json(body, contentType: type)
        }
        routes.get("/topics/{topic_name}/partitions") { request, context in
            let type = try V2Negotiation.responseType(request)
            let topic = try await self.topic(try context.requiredParameter("topic_name"))
            return .json(.array(topic.partitions.map(Self.v2Partition)), contentType: type)
        }
        routes.get("/topics/{topic_name}/partitions/{partition_id}") { request, context in
            let type = try V2Negotiation.responseType(request)
            let (_, partition) = try await self.partition(request, context)
            return .json(Self.v2Partition(partition), contentType: type)
        }
        routes.get("/topics/{topic_name}/partitions/{partition_id}/offsets") { request, context in
            let type = try V2Negotiation.responseType(request)
            let (topic, partition) = try await self.partition(request, context)
            let tp = try TopicPartition(topic: topic.name, partition: partition.partition)
            let (earliest, latest) = try await brokerCall { () async throws(BrokerError) in
                (try await self.broker.listOffset(tp, at: .earliest), try await self.broker.listOffset(tp, at: .latest))
            }
            return .json(
                ["beginning_offset": .int(earliest.offset), "end_offset": .int(latest.offset)],
                contentType: type
            )
        }
        let produce = routes.accepting(EmbeddedFormat.v2ProduceBodies)
        produce.post("/topics/{topic_name}") { request, context in
            try await self.v2Produce(request, context, partition: nil)
        }
        produce.post("/topics/{topic_name}/partitions/{partition_id}") { request, context in
            try await self.v2Produce(request, context, partition: try request.partitionParameter(context))
        }
    }
}

extension ProxyController {

    static func v2Partition(_ partition: PartitionDescription) -> JSONValue {
        [
            "partition": .int(partition.partition),
            "leader": .int(partition.leader),
            "replicas": .array(
                partition.replicas.map { broker in
                    [
                        "broker": .int(broker),
                        "leader": .bool(broker == partition.leader),
                        "in_sync": .bool(partition.inSyncReplicas.contains(broker)),
                    ]
                }
            ),
        ]
    }

    /// The topic and partition a path names: 40401 for an unknown topic, 40402 for an unknown partition.
    func partition(
        _ request: Request,
        _ context: some RequestContext
    ) async throws -> (TopicDescription, PartitionDescription) {
        let topic = try await self.topic(try context.requiredParameter("topic_name"))
        let index = try request.partitionParameter(context)
        guard let partition = topic.partitions.first(where: { $0.partition == index }) else {
            throw APIError.partitionNotFound()
        }
        return (topic, partition)
    }

    // MARK: Produce

    /// `POST /topics/{t}[/partitions/{p}]`: the body is read without building a JSON tree; every record is checked
    /// before any is written, so a bad record fails the whole request and writes nothing.
    func v2Produce(_ request: Request, _ context: some RequestContext, partition: Int32?) async throws -> Response {
        let format = try V2Negotiation.produceFormat(request)
        if format.needsSchemaRegistry { throw APIError.schemaRegistryRequired(format.rawValue) }
        let responseType = try V2Negotiation.responseType(request)
        let topicName = try context.requiredParameter("topic_name")
        let body = try await request.collectBody(limit: configuration.maxRequestBytes)
        var records = try V2ProduceRequest.parse(body, format: format, defaultPartition: partition)

        // Check partitions before writing anything.
        let explicit = records.entries.contains { $0.partition != nil }
        if explicit || partition != nil {
            let topic = try await self.topic(topicName)
            let count = Int32(topic.partitions.count)
            for entry in records.entries {
                if let target = entry.partition, target < 0 || target >= count {
                    throw APIError.partitionNotFound()
                }
            }
        }
        let outcomes: [ProduceOutcome]
        do {
            outcomes = try await broker.produce(topic: topicName, records: records, options: ProduceOptions())
        } catch  where error.code == .unknownTopicOrPartition || error.code == .invalidTopic {
            throw APIError.topicNotFound()
        } catch {
            throw APIError(error)
        }
        records.removeAll()

        var writer = JSONWriter(buffer: ByteBuffer())
        writer.buffer.reserveCapacity(outcomes.count * 64 + 64)
        writer.raw("{\"offsets\":[")
        for (index, outcome) in outcomes.enumerated() {
            if index > 0 { writer.raw(",") }
            switch outcome {
            case .success(let metadata):
                writer.raw("{\"partition\":")
                writer.int(metadata.partition)
                writer.raw(",\"offset\":")
                writer.int(metadata.offset)
                writer.raw(",\"error_code\":null,\"error\":null}")
            case .failure(let error):
                writer.raw("{\"partition\":null,\"offset\":null,\"error_code\":")
                writer.int(APIError.produceRecordErrorCode(error))
                writer.raw(",\"error\":")
                writer.string(error.message)
                writer.raw("}")
            }
        }
        writer.raw("],\"key_schema_id\":null,\"value_schema_id\":null}")
        return .json(bytes: writer.buffer, contentType: responseType)
    }
}

/// A v2 produce body: `{"records":[{"key":..,"value":..,"partition":..}], "key_schema":.., ...}`.
enum V2ProduceRequest {
    /// A record as read: where its key and value are in the request's ``ProducerRecords``.
    private struct Parsed {
        var key: Range<Int>?
        var value: Range<Int>?
        var partition: Int32?
    }

    /// Reads the records; keys and values are slices of one buffer (no allocation per record).
    static func parse(_ body: ByteBuffer, format: EmbeddedFormat, defaultPartition: Int32?) throws -> ProducerRecords {
        var storage = ProducerRecords(byteCapacity: body.readableBytes)
        let parsed = try body.withUnsafeReadableBytes { bytes in
            try parseRecords(bytes, format: format, defaultPartition: defaultPartition, storage: &storage)
        }
        for record in parsed { storage.append(key: record.key, value: record.value, partition: record.partition) }
        return storage
    }

    private static func parseRecords(
        _ bytes: UnsafeRawBufferPointer,
        format: EmbeddedFormat,
        defaultPartition: Int32?,
        storage: inout ProducerRecords
    ) throws -> [Parsed] {
        var reader = JSONReader(bytes)
        var records: [Parsed] = []
        var sawRecords = false
        do {
            if reader.isAtEnd { throw APIError.payload("Request body is empty. Data is required.") }
            try reader.beginObject()
            while let key = try reader.nextKey() {
                guard key == "records" else {
                    // key_schema, value_schema_id...: only schema formats use them.
                    try reader.skipValue()
                    continue
                }
                sawRecords = true
                guard try reader.peekKind() == .array else {
                    throw APIError.badRequest("Bad Request: records must be an array")
                }
                try reader.beginArray()
                while try reader.nextElement() {
                    records.append(
                        try parseRecord(&reader, format: format, defaultPartition: defaultPartition, storage: &storage)
                    )
                }
            }
            try reader.expectEnd()
        } catch let error as JSONError {
            throw APIError.malformedJSON(error)
        }
        guard sawRecords, !records.isEmpty else {
            throw APIError.payload("records may not be empty")
        }
        return records
    }

    private static func parseRecord(
        _ reader: inout JSONReader,
        format: EmbeddedFormat,
        defaultPartition: Int32?,
        storage: inout ProducerRecords
    ) throws -> Parsed {
        guard try reader.peekKind() == .object else {
            throw APIError.badRequest("Bad Request: each record must be a JSON object")
        }
        var record = Parsed(partition: defaultPartition)
        try reader.beginObject()
        while let field = try reader.nextKey(in: ["key", "value", "partition"]) {
            switch field {
            case 0:
                record.key = try EmbeddedCodec.read(&reader, format: format, into: &storage)
            case 1:
                record.value = try EmbeddedCodec.read(&reader, format: format, into: &storage)
            case 2:
                if reader.readNullIfPresent() { continue }
                guard try reader.peekKind() == .number, let partition = try reader.readInt64(),
                    let value = Int32(exactly: partition)
                else { throw APIError.badRequest("Bad Request: partition must be an integer") }
                // A record's own partition wins over the path's, as in Confluent.
                record.partition = value
            default:
                try reader.skipValue()
            }
        }
        return record
    }
}
