import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelRecords
import Synchronization

/// v2 consumer instances: `/consumers/{group}` and `/consumers/{group}/instances/{instance}/...`.
struct V2ConsumerController: ProxyController {
    let broker: any Broker
    let configuration: RestProxyConfiguration
    let consumers: ConsumerManager

    func register<Context: RequestContext>(on routes: RouteTable<Context>) {
        let instancePath = "/consumers/{group_name}/instances/{instance}"
        routes.post("/consumers/{group_name}") { request, context in
            try await self.createConsumer(request, context)
        }
        routes.delete(instancePath) { request, context in
            _ = try V2Negotiation.responseType(request)
            try await self.consumers.delete(
                group: try context.requiredParameter("group_name"),
                name: try context.requiredParameter("instance")
            )
            return .noContent()
        }
        routes.post(instancePath + "/subscription") { request, context in
            let (instance, body) = try await self.consumerRequest(request, context)
            let topics = body?["topics"]
            let pattern = body?["topic_pattern"]
            switch (topics, pattern) {
            case (.some(.array(let list)), nil), (.some(.array(let list)), .some(.null)):
                let names = try list.map { value -> String in
                    guard let name = value.stringValue, !name.isEmpty else {
                        throw APIError.payload("topics must be a list of topic names")
                    }
                    return name
                }
                guard !names.isEmpty else { throw APIError.payload("topics must not be empty") }
                try await self.consumers.subscribe(instance, .topics(Array(Set(names)).sorted()))
            case (nil, .some(.string(let regex))), (.some(.null), .some(.string(let regex))):
                guard (try? Regex(regex)) != nil else {
                    throw APIError.payload("topic_pattern is not a valid regular expression: \(regex)")
                }
                try await self.consumers.subscribe(instance, .pattern(regex))
            default:
                throw APIError.payload("A subscription needs either topics (a list) or topic_pattern (a regex)")
            }
            return .noContent()
        }
        routes.get(instancePath + "/subscription") { request, context in
            let type = try V2Negotiation.responseType(request)
            let instance = try self.instance(context)
            return .json(["topics": .array(instance.subscribedTopics.map { .string($0) })], contentType: type)
        }
        routes.delete(instancePath + "/subscription") { request, context in
            _ = try V2Negotiation.responseType(request)
            await self.consumers.unsubscribe(try self.instance(context))
            return .noContent()
        }
        routes.post(instancePath + "/assignments") { request, context in
            let (instance, body) = try await self.consumerRequest(request, context)
            let partitions = try await self.existingPartitions(try Self.partitionList(body, field: "partitions"))
            try self.consumers.assign(instance, partitions)
            return .noContent()
        }
        routes.get(instancePath + "/assignments") { request, context in
            let type = try V2Negotiation.responseType(request)
            let instance = try self.instance(context)
            let assignment = instance.state.withLock(\.assignment)
            return .json(["partitions": .array(assignment.map(Self.partitionJSON))], contentType: type)
        }
        routes.post(instancePath + "/positions") { request, context in
            let (instance, body) = try await self.consumerRequest(request, context)
            var targets: [TopicPartition: Int64] = [:]
            for entry in body?["offsets"]?.arrayValue ?? [] {
                let tp = try Self.topicPartition(entry)
                guard let offset = entry["offset"]?.int64Value else {
                    throw APIError.payload("offset must be a whole number")
                }
                guard offset >= 0 else { throw APIError.payload("offset must not be negative: \(offset)") }
                targets[tp] = offset
            }
            var byTimestamp: [TopicPartition: Int64] = [:]
            for entry in body?["timestamps"]?.arrayValue ?? [] {
                let tp = try Self.topicPartition(entry)
                guard let text = entry["timestamp"]?.stringValue, let ms = Timestamps.parse(text) else {
                    throw APIError.payload("timestamp must be an ISO-8601 date-time, e.g. 2021-02-05T19:14:42Z")
                }
                byTimestamp[tp] = ms
            }
            guard !targets.isEmpty || !byTimestamp.isEmpty else {
                throw APIError.payload("Give offsets or timestamps to seek to")
            }
            try self.consumers.seek(instance, targets)
            if !byTimestamp.isEmpty {
                try await self.consumers.seek(instance, Array(byTimestamp.keys)) { .timestamp(byTimestamp[$0] ?? 0) }
            }
            return .noContent()
        }
        routes.post(instancePath + "/positions/beginning") { request, context in
            let (instance, body) = try await self.consumerRequest(request, context)
            try await self.consumers.seek(instance, try Self.partitionList(body, field: "partitions")) { _ in .earliest
            }
            return .noContent()
        }
        routes.post(instancePath + "/positions/end") { request, context in
            let (instance, body) = try await self.consumerRequest(request, context)
            try await self.consumers.seek(instance, try Self.partitionList(body, field: "partitions")) { _ in .latest }
            return .noContent()
        }
        routes.get(instancePath + "/records") { request, context in
            try await self.readRecords(request, context)
        }
        routes.post(instancePath + "/offsets") { request, context in
            let (instance, body) = try await self.consumerRequest(request, context)
            let type = try V2Negotiation.responseType(request)
            if let entries = body?["offsets"]?.arrayValue {
                var offsets: [TopicPartition: CommittedOffset] = [:]
                for entry in entries {
                    let tp = try Self.topicPartition(entry)
                    guard let offset = entry["offset"]?.int64Value, offset >= 0, offset < Int64.max else {
                        throw APIError.payload("offset must be a whole number, not negative")
                    }
                    // The client gives the last offset it consumed; the next one to read is committed.
                    offsets[tp] = CommittedOffset(offset: offset + 1, metadata: entry["metadata"]?.stringValue ?? "")
                }
                try await self.consumers.commit(instance, offsets)
            } else {
                try await self.consumers.commitPositions(instance)
            }
            return .json([], contentType: type)
        }
        routes.get(instancePath + "/offsets") { request, context in
            let (instance, body) = try await self.consumerRequest(request, context)
            let type = try V2Negotiation.responseType(request)
            guard let body else { throw APIError.partitionNotFound() }
            let partitions = try Self.partitionList(body, field: "partitions")
            let committed = try await self.consumers.committed(instance, partitions)
            let offsets: [JSONValue] = partitions.map { tp in
                let entry = committed[tp]
                return [
                    "topic": .string(tp.topic),
                    "partition": .int(tp.partition),
                    "offset": .int(entry?.offset ?? -1),
                    "metadata": .string(entry?.metadata ?? ""),
                ]
            }
            return .json(["offsets": .array(offsets)], contentType: type)
        }
    }
}

extension V2ConsumerController {

    fileprivate func instance(_ context: some RequestContext) throws -> ConsumerInstance {
        try consumers.instance(
            group: try context.requiredParameter("group_name"),
            name: try context.requiredParameter("instance")
        )
    }

    /// The instance a request addresses and its JSON body (nil when empty).
    fileprivate func consumerRequest(
        _ request: Request,
        _ context: some RequestContext
    ) async throws -> (ConsumerInstance, JSONValue?) {
        try V2Negotiation.checkManagementBody(request)
        let instance = try instance(context)
        let body = try await request.jsonBody(limit: configuration.maxRequestBytes)
        if let body, body.members == nil { throw APIError.payload("The request body must be a JSON object") }
        return (instance, body)
    }

    static func partitionJSON(_ tp: TopicPartition) -> JSONValue {
        ["topic": .string(tp.topic), "partition": .int(tp.partition)]
    }

    static func topicPartition(_ entry: JSONValue) throws -> TopicPartition {
        guard let topic = entry["topic"]?.stringValue, !topic.isEmpty else {
            throw APIError.payload("Each entry needs a topic (a string)")
        }
        guard let partition = entry["partition"]?.int64Value, let value = Int32(exactly: partition), value >= 0 else {
            throw APIError.payload("Each entry needs a partition (a whole number, not negative)")
        }
        do {
            return try TopicPartition(topic: topic, partition: value)
        } catch {
            throw APIError.payload("Invalid topic name \(topic): \(error)")
        }
    }

    static func partitionList(_ body: JSONValue?, field: String) throws -> [TopicPartition] {
        guard let entries = body?[field]?.arrayValue else {
            throw APIError.payload("The request needs \(field): a list of {\"topic\", \"partition\"}")
        }
        var seen = Set<TopicPartition>()
        return try entries.map(topicPartition).filter { seen.insert($0).inserted }
    }

    /// The partitions, checked to exist (40401/40402).
    fileprivate func existingPartitions(_ partitions: [TopicPartition]) async throws -> [TopicPartition] {
        var counts: [String: Int] = [:]
        for tp in partitions {
            if counts[tp.topic] == nil { counts[tp.topic] = try await topic(tp.topic).partitions.count }
            guard Int(tp.partition) < counts[tp.topic] ?? 0 else { throw APIError.partitionNotFound() }
        }
        return partitions
    }

    // MARK: Create

    fileprivate func createConsumer(_ request: Request, _ context: some RequestContext) async throws -> Response {
        try V2Negotiation.checkManagementBody(request)
        let type = try V2Negotiation.responseType(request)
        let group = try context.requiredParameter("group_name")
        let body = try await request.jsonBody(limit: configuration.maxRequestBytes) ?? [:]
        guard body.members != nil else { throw APIError.payload("The request body must be a JSON object") }

        func text(_ keys: String...) throws -> String? {
            for key in keys {
                switch body[key] {
                case nil, .some(.null): continue
                case .some(.string(let value)): return value
                case .some(.number(let value)): return value
                case .some(.bool(let value)): return String(value)
                default: throw APIError.invalidConsumerConfig("\(key) must be a string")
                }
            }
            return nil
        }
        func number(_ keys: String...) throws -> Int64? {
            for key in keys {
                guard let value = body[key], !value.isNull else { continue }
                if let number = value.int64Value { return number }
                if let string = value.stringValue, let number = Int64(string) { return number }
                throw APIError.invalidConsumerConfig("\(key) must be a whole number")
            }
            return nil
        }

        let name =
            try text("id", "name")
            ?? "rest-consumer-\(configuration.serverId.isEmpty ? "" : configuration.serverId + "-")\(UUID().uuidString.lowercased())"
        guard !name.isEmpty, name.count <= 249,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") })
        else {
            throw APIError.invalidConsumerConfig(
                "Invalid consumer instance name \(name): use letters, digits, '.', '_' and '-' (it is part of URLs)"
            )
        }
        let formatName = (try text("format") ?? "binary").lowercased()
        guard let format = EmbeddedFormat(rawValue: formatName), format != .string else {
            throw APIError(.unprocessableContent, 422, "Invalid format type: \(formatName). Use binary or json.")
        }
        if format.needsSchemaRegistry { throw APIError.schemaRegistryRequired(format.rawValue) }
        let resetName = try text("auto.offset.reset") ?? "latest"
        guard let reset = ConsumerInstance.OffsetReset(rawValue: resetName.lowercased()) else {
            throw APIError.invalidConsumerConfig(
                "Invalid value \(resetName) for configuration auto.offset.reset: String must be one of: latest, earliest, none"
            )
        }
        let autoCommitText = try text("auto.commit.enable") ?? "true"
        guard let autoCommit = Bool(autoCommitText.lowercased()) else {
            throw APIError.invalidConsumerConfig(
                "Invalid value \(autoCommitText) for configuration enable.auto.commit: Expected value to be either true or false"
            )
        }
        let fetchMinBytes = try number("fetch.min.bytes", "responseMinBytes") ?? Int64(configuration.fetchMinBytes)
        guard (-1...10_000_000).contains(fetchMinBytes) else {
            throw APIError(.unprocessableContent, 40001, "fetch.min.bytes must be between -1 and 10000000")
        }
        let timeout =
            try number("consumer.request.timeout.ms", "requestWaitMs") ?? configuration.consumerRequestTimeoutMs
        guard (0...Int64(Int32.max)).contains(timeout) else {
            throw APIError(.unprocessableContent, 40001, "consumer.request.timeout.ms must be between 0 and 2147483647")
        }

        let instance = ConsumerInstance(
            group: group,
            name: name,
            format: format,
            offsetReset: reset,
            autoCommit: autoCommit,
            fetchMinBytes: Int(fetchMinBytes),
            requestTimeoutMs: timeout,
            now: consumers.clock.nowMilliseconds()
        )
        try consumers.create(instance)
        let baseURI = "\(self.baseURL(request))/consumers/\(group)/instances/\(name)"
        return .json(["instance_id": .string(name), "base_uri": .string(baseURI)], contentType: type)
    }

    // MARK: Records

    fileprivate func readRecords(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let instance = try self.instance(context)
        // The Accept header picks the format, which must be the instance's (binary also answers the plain v2 type).
        let accepted = MediaType.accepted(request)
        if !accepted.isEmpty {
            var matched = false
            var namedOther = false
            for type in accepted {
                let lowered = type.lowercased()
                if lowered == "*/*" || lowered == "application/*" {
                    matched = true
                } else if let format = EmbeddedFormat.fromV2MediaType(type) {
                    if format == instance.format { matched = true } else { namedOther = true }
                } else if lowered == EmbeddedFormat.v2Metadata && instance.format == .binary {
                    matched = true
                }
                if matched { break }
            }
            if !matched {
                throw namedOther ? APIError.formatMismatch() : APIError.notAcceptable(request.headers[.accept])
            }
        }
        let query = request.uri.queryParameters
        var timeout = instance.requestTimeoutMs
        if let text = query["timeout"] {
            guard let value = Int64(text) else {
                throw APIError.badRequest("timeout must be a whole number of milliseconds")
            }
            if value > 0 { timeout = min(value, instance.requestTimeoutMs) }
        }
        var maxBytes = configuration.consumerRequestMaxBytes
        if let text = query["max_bytes"] {
            guard let value = Int(text), value > 0 else {
                throw APIError.badRequest("max_bytes must be a positive whole number")
            }
            maxBytes = min(value, maxBytes)
        }
        let format = instance.format
        let (body, memory) = try await consumers.read(instance, timeoutMs: timeout, maxBytes: maxBytes) { records in
            var writer = JSONWriter(buffer: ByteBuffer())
            writer.buffer.reserveCapacity(
                records.reduce(2) { $0 + 96 + (($1.value?.readableBytes ?? 0) + ($1.key?.readableBytes ?? 0)) * 4 / 3 }
            )
            writer.raw("[")
            var count = 0
            for record in records {
                let mark = writer.buffer.writerIndex
                if count > 0 { writer.raw(",") }
                do {
                    try Self.writeV2Record(record, format: format, to: &writer)
                } catch {
                    // Answer the records before it; the client gets the error when it reaches this one.
                    guard count > 0 else { throw error }
                    writer.buffer.moveWriterIndex(to: mark)
                    break
                }
                count += 1
            }
            writer.raw("]")
            return (writer.buffer, count)
        }
        return .json(bytes: body, contentType: format.v2MediaType, holding: memory)
    }

    /// `{"topic","key","value","partition","offset","timestamp","headers"}`: Confluent's fields, plus the record's
    /// timestamp (milliseconds) and, when it has any, its headers (`{"key", "value": base64}`).
    static func writeV2Record(_ record: ConsumerRecord, format: EmbeddedFormat, to writer: inout JSONWriter) throws {
        writer.raw("{\"topic\":")
        writer.string(record.topic)
        writer.raw(",\"key\":")
        try EmbeddedCodec.write(record.key, format: format, to: &writer)
        writer.raw(",\"value\":")
        try EmbeddedCodec.write(record.value, format: format, to: &writer)
        writer.raw(",\"partition\":")
        writer.int(record.partition)
        writer.raw(",\"offset\":")
        writer.int(record.offset)
        writer.raw(",\"timestamp\":")
        writer.int(record.timestamp)
        if !record.headers.isEmpty {
            writer.raw(",\"headers\":")
            EmbeddedCodec.writeHeaders(record.headers, nameField: "key", to: &writer)
        }
        writer.raw("}")
    }
}
