import HTTPTypes
import Hummingbird
import NIOCore
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelRecords

/// v3 produce (`POST .../topics/{t}/records`, one record or a stream of them, one delivery report each, in order)
/// and the stateless partition read (`GET .../partitions/{p}/records`, an extension of ours).
struct V3RecordsController: ProxyController {
    let broker: any Broker
    let configuration: RestProxyConfiguration

    func register<Context: RequestContext>(on routes: RouteTable<Context>) {
        let topicPath = "/v3/clusters/{cluster_id}/topics/{topic_name}"
        routes.post(topicPath + "/records") { request, context in
            try await self.v3Produce(request, context)
        }
        routes.post(topicPath + "/records:batch") { request, context in
            try await self.v3ProduceBatch(request, context)
        }
        routes.get(topicPath + "/partitions/{partition_id}/records") { request, context in
            try await self.readPartition(request, context)
        }
    }
}

/// A record of a v3 produce request, read and checked; `problem` holds the error to report instead.
struct V3Record {
    var key: Range<Int>?
    var value: Range<Int>?
    var headers: [(key: Range<Int>, value: Range<Int>?)] = []
    var timestamp: Int64?
    var partition: Int32?
    var keyReport: JSONValue?
    var valueReport: JSONValue?
    var problem: APIError?
    /// A `records:batch` entry's id.
    var id: JSONValue?
}

extension ProxyController {

    // MARK: Produce

    fileprivate func v3Produce(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let scope = try await scope(request, context)
        let topic = try await self.topic(try context.requiredParameter("topic_name"))
        let partitionCount = Int32(topic.partitions.count)
        let limit = configuration.maxRequestBytes
        var headers = HTTPFields()
        headers[.contentType] = MediaType.json
        // The body is read and produced after the handler returns: it runs as the request's caller all the same.
        let caller = Caller.current
        let body = ResponseBody { writer in
            var pending = ByteBuffer()
            var received = 0
            var first = true
            var failed = false
            func flush(final: Bool) async throws {
                // Read the complete records at the front of what has arrived, produce them together (at most 1000 at
                // a time), report each; an unfinished record waits for more bytes.
                while true {
                    var records: [V3Record] = []
                    var storage = ProducerRecords()
                    var malformed: JSONError?
                    pending.withUnsafeReadableBytes { bytes in
                        var reader = JSONReader(bytes)
                        var consumed = 0
                        while records.count < 1000 {
                            reader.skipWhitespace()
                            let start = reader.position
                            if start >= bytes.count {
                                consumed = start
                                break
                            }
                            // At the end of the body, a value that runs to the end is all there is (a trailing
                            // number, say); it is read, and refused if it is not a record.
                            guard
                                let end = JSONReader.endOfValue(in: bytes, from: start)
                                    ?? (final && !"{[\"".utf8.contains(bytes[start]) ? bytes.count : nil)
                            else {
                                // Not all of this record has arrived yet; at the end of the body, it never will.
                                if final { malformed = JSONError("Unexpected end of JSON input", at: bytes.count) }
                                consumed = start
                                break
                            }
                            var record = JSONReader(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                            do {
                                records.append(
                                    try Self.readV3Record(&record, partitionCount: partitionCount, storage: &storage)
                                )
                                consumed = end
                                reader.seek(to: end)
                            } catch let error as JSONError {
                                malformed = JSONError(error.message, at: start + error.offset)
                                consumed = start
                                break
                            } catch {
                                malformed = JSONError("\(error)", at: start)
                                consumed = start
                                break
                            }
                        }
                        pending.moveReaderIndex(forwardBy: consumed)
                    }
                    if !records.isEmpty {
                        let reports = try await Caller.$current.withValue(caller) {
                            try await self.produceAndReport(
                                records,
                                storage,
                                scope: scope,
                                topic: topic.name,
                                first: &first
                            )
                        }
                        try await writer.write(reports)
                    }
                    if let malformed {
                        var out = JSONWriter()
                        if !first { out.raw("\n") }
                        first = false
                        out.value(["error_code": 400, "message": .string("Unexpected JSON: \(malformed.message)")])
                        try await writer.write(out.buffer)
                        failed = true
                        return
                    }
                    pending.discardReadBytes()
                    if records.count < 1000 { return }
                }
            }
            var chunks = request.body.makeAsyncIterator()
            while true {
                let next: ByteBuffer?
                do {
                    next = try await chunks.next()
                } catch let error as CancellationError {
                    throw error
                } catch {
                    // A body the HTTP layer cannot decode ends the stream with the client's error.
                    var out = JSONWriter()
                    if !first { out.raw("\n") }
                    out.value(Self.streamError(Request.unreadableBody(error)))
                    try await writer.write(out.buffer)
                    failed = true
                    break
                }
                guard var chunk = next else { break }
                received += chunk.readableBytes
                if received > limit {
                    var out = JSONWriter()
                    if !first { out.raw("\n") }
                    out.value([
                        "error_code": 413,
                        "message": .string("Request body is larger than the limit of \(limit) bytes."),
                    ])
                    try await writer.write(out.buffer)
                    failed = true
                    break
                }
                pending.writeBuffer(&chunk)
                try await flush(final: false)
                if failed { break }
            }
            if !failed {
                try await flush(final: true)
                if first && !failed {
                    // An empty body: nothing to produce.
                    var out = JSONWriter()
                    out.value([
                        "error_code": 422,
                        "message": "Error: 42206 : Payload error. Request body is empty. Data is required.",
                    ])
                    try await writer.write(out.buffer)
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Produces the records that passed their checks in one broker call; each record's delivery report (without
    /// `error_code`), or its error, in order.
    fileprivate func produce(
        _ records: [V3Record],
        _ storage: ProducerRecords,
        scope: V3Scope,
        topic: String
    ) async -> [Result<[(String, JSONValue)], APIError>] {
        // The records that passed, pointing into the request's one buffer (no bytes are copied).
        var valid = storage
        valid.removeRecords()
        for record in records where record.problem == nil {
            for header in record.headers { valid.appendHeader(key: header.key, value: header.value) }
            valid.append(key: record.key, value: record.value, timestamp: record.timestamp, partition: record.partition)
        }
        var outcomes: [ProduceOutcome] = []
        if !valid.isEmpty {
            do {
                outcomes = try await broker.produce(topic: topic, records: valid, options: ProduceOptions())
            } catch {
                outcomes = Array(repeating: .failure(error), count: valid.count)
            }
        }
        var next = 0
        return records.map { record in
            if let problem = record.problem { return .failure(problem) }
            let outcome = outcomes[next]
            next += 1
            switch outcome {
            case .success(let metadata):
                var fields: [(String, JSONValue)] = [
                    ("cluster_id", .string(scope.clusterId)),
                    ("topic_name", .string(topic)),
                    ("partition_id", .int(metadata.partition)),
                    ("offset", .int(metadata.offset)),
                    ("timestamp", .string(Timestamps.format(metadata.timestamp))),
                ]
                if let key = record.keyReport { fields.append(("key", key)) }
                if let value = record.valueReport { fields.append(("value", value)) }
                return .success(fields)
            case .failure(let error):
                return .failure(APIError(error))
            }
        }
    }

    /// Produces the records and writes every delivery report of the stream, in order.
    fileprivate func produceAndReport(
        _ records: [V3Record],
        _ storage: ProducerRecords,
        scope: V3Scope,
        topic: String,
        first: inout Bool
    ) async throws -> ByteBuffer {
        var out = JSONWriter()
        for report in await produce(records, storage, scope: scope, topic: topic) {
            if !first { out.raw("\n") }
            first = false
            switch report {
            case .success(let fields): out.value(.object([("error_code", 200)] + fields))
            case .failure(let error): out.value(Self.streamError(error))
            }
        }
        return out.buffer
    }

    /// `POST .../records:batch`: `{"entries": [{"id", ...record}]}`, at most
    /// `api.v3.produce.batch.maximum.entries` of them with distinct ids; 207 with `successes` and `failures`.
    fileprivate func v3ProduceBatch(_ request: Request, _ context: some RequestContext) async throws -> Response {
        let scope = try await scope(request, context)
        let topic = try await self.topic(try context.requiredParameter("topic_name"))
        let partitionCount = Int32(topic.partitions.count)
        let body = try await request.collectBody(limit: configuration.maxRequestBytes)
        var storage = ProducerRecords(byteCapacity: body.readableBytes)
        let limit = configuration.produceBatchMaximumEntries
        let records = try body.withUnsafeReadableBytes { bytes throws -> [V3Record] in
            var reader = JSONReader(bytes)
            var records: [V3Record] = []
            do {
                if reader.isAtEnd { throw APIError.batch("Request body is empty. Data is required.") }
                guard try reader.peekKind() == .object else {
                    throw APIError.batch("The request body must be an object {\"entries\": [...]}")
                }
                try reader.beginObject()
                var sawEntries = false
                while let key = try reader.nextKey() {
                    guard key == "entries" else {
                        try reader.skipValue()
                        continue
                    }
                    sawEntries = true
                    guard try reader.peekKind() == .array else { throw APIError.batch("entries must be an array") }
                    try reader.beginArray()
                    while try reader.nextElement() {
                        records.append(
                            try Self.readV3Record(&reader, partitionCount: partitionCount, storage: &storage)
                        )
                        if records.count > limit {
                            throw APIError.batch("Too many entries in batch: at most \(limit).")
                        }
                    }
                }
                try reader.expectEnd()
                guard sawEntries, !records.isEmpty else { throw APIError.batch("Empty batch.") }
            } catch let error as JSONError {
                throw APIError.malformedJSON(error)
            }
            return records
        }
        var seen = Set<String>()
        for record in records {
            guard let id = record.id?.stringValue, (1...80).contains(id.count) else {
                throw APIError.batch("Each entry needs an id: a string of 1 to 80 characters.")
            }
            guard seen.insert(id).inserted else { throw APIError.batch("Batch entry IDs are not distinct.") }
        }
        var successes: [JSONValue] = []
        var failures: [JSONValue] = []
        for (record, report) in zip(records, await produce(records, storage, scope: scope, topic: topic.name)) {
            let id = record.id ?? .null
            switch report {
            case .success(let fields): successes.append(.object([("id", id)] + fields))
            case .failure(let error):
                let reported = Self.streamError(error)
                failures.append(
                    ["id": id, "error_code": reported["error_code"] ?? .null, "message": reported["message"] ?? .null]
                )
            }
        }
        return .json(
            ["successes": .array(successes), "failures": .array(failures)],
            status: HTTPResponse.Status(code: 207, reasonPhrase: "Multi-Status")
        )
    }

    /// An error inside the stream: a 5-digit Confluent code becomes its HTTP status, the code going in the message.
    static func streamError(_ error: APIError) -> JSONValue {
        if error.errorCode >= 10_000 && error.status == .unprocessableContent {
            return [
                "error_code": .int(error.status.code),
                "message": .string("Error: \(error.errorCode) : \(error.message)"),
            ]
        }
        return ["error_code": .int(error.errorCode), "message": .string(error.message)]
    }

    /// Reads one record object. Malformed (or unfinished) JSON throws; a well-formed record with bad content comes
    /// back with a `problem`, reported in its place without stopping the stream.
    static func readV3Record(
        _ reader: inout JSONReader,
        partitionCount: Int32,
        storage: inout ProducerRecords
    ) throws -> V3Record {
        _ = reader.peek()
        let start = reader.position
        try reader.skipValue()
        var fields = JSONReader(reader.bytes)
        fields.seek(to: start)
        var result = V3Record()
        do {
            try readV3Fields(&fields, into: &result, partitionCount: partitionCount, storage: &storage)
        } catch let error as APIError {
            result.problem = error
            // A batch entry with a problem is still reported under its id, wherever the id is in the object.
            var scan = JSONReader(reader.bytes)
            scan.seek(to: start)
            if result.id == nil, try scan.peekKind() == .object {
                try scan.beginObject()
                while let key = try scan.nextKey() {
                    if key == "id" {
                        result.id = try scan.readValue()
                        break
                    }
                    try scan.skipValue()
                }
            }
        }
        return result
    }

    fileprivate static func readV3Fields(
        _ reader: inout JSONReader,
        into result: inout V3Record,
        partitionCount: Int32,
        storage: inout ProducerRecords
    ) throws {
        guard try reader.peekKind() == .object else {
            throw APIError.badRequest("Bad Request: a record must be a JSON object")
        }
        try reader.beginObject()
        while let field = try reader.nextKey() {
            switch field {
            case "id":
                // A records:batch entry's id, checked by the batch.
                result.id = try reader.readValue()
            case "partition_id":
                if reader.readNullIfPresent() { continue }
                guard try reader.peekKind() == .number, let value = try reader.readInt64(),
                    let id = Int32(exactly: value)
                else { throw APIError.badRequest("Bad Request: partition_id must be a whole number") }
                guard id >= 0 && id < partitionCount else { throw APIError.partitionNotFound() }
                result.partition = id
            case "timestamp":
                if reader.readNullIfPresent() { continue }
                guard try reader.peekKind() == .string, let ms = Timestamps.parse(try reader.readString()) else {
                    throw APIError.badRequest("Bad Request: timestamp must be an ISO-8601 date-time")
                }
                result.timestamp = ms
            case "headers":
                if reader.readNullIfPresent() { continue }
                result.headers = try readHeaders(&reader, storage: &storage)
            case "key":
                let (data, report) = try readData(&reader, storage: &storage)
                result.key = data
                result.keyReport = report
            case "value":
                let (data, report) = try readData(&reader, storage: &storage)
                result.value = data
                result.valueReport = report
            default:
                try reader.skipValue()
            }
        }
    }

    fileprivate static func readHeaders(
        _ reader: inout JSONReader,
        storage: inout ProducerRecords
    ) throws -> [(key: Range<Int>, value: Range<Int>?)] {
        guard try reader.peekKind() == .array else {
            try reader.skipValue()
            throw APIError.badRequest("Bad Request: headers must be a list of {\"name\", \"value\"}")
        }
        var headers: [(key: Range<Int>, value: Range<Int>?)] = []
        try reader.beginArray()
        while try reader.nextElement() {
            guard try reader.peekKind() == .object else {
                throw APIError.badRequest("Bad Request: each header must be an object {\"name\", \"value\"}")
            }
            var name: String?
            var value: Range<Int>?
            try reader.beginObject()
            while let field = try reader.nextKey() {
                switch field {
                case "name":
                    guard try reader.peekKind() == .string else {
                        throw APIError.badRequest("Bad Request: a header name must be a string")
                    }
                    name = try reader.readString()
                case "value":
                    value = try EmbeddedCodec.read(&reader, format: .binary, into: &storage)
                default:
                    try reader.skipValue()
                }
            }
            guard let name else { throw APIError.badRequest("Bad Request: a header needs a name") }
            headers.append((storage.write(name), value))
        }
        return headers
    }

    /// `{"type": "BINARY"|"JSON"|"STRING", "data": ...}`, and its report `{"type", "size"}`. Without `type` the data is
    /// JSON (Confluent would look up the subject's latest schema, and this server has no schema registry).
    fileprivate static func readData(
        _ reader: inout JSONReader,
        storage: inout ProducerRecords
    ) throws -> (Range<Int>?, JSONValue?) {
        if reader.readNullIfPresent() { return (nil, nil) }
        guard try reader.peekKind() == .object else {
            try reader.skipValue()
            throw APIError.badRequest(
                "Bad Request: key and value must be objects like {\"type\": \"JSON\", \"data\": ...}"
            )
        }
        // `type` may come after `data`: remember where the data is and read it once the type is known.
        var typeName: String?
        var dataStart: Int?
        var schemaField: String?
        try reader.beginObject()
        while let field = try reader.nextKey() {
            switch field {
            case "type":
                if reader.readNullIfPresent() { continue }
                guard try reader.peekKind() == .string else {
                    throw APIError.badRequest("Bad Request: type must be a string")
                }
                typeName = try reader.readString()
            case "data":
                _ = reader.peek()
                dataStart = reader.position
                try reader.skipValue()
            case "schema", "schema_id", "schema_version", "subject", "subject_name_strategy":
                if !reader.readNullIfPresent() {
                    schemaField = field
                    try reader.skipValue()
                }
            default:
                try reader.skipValue()
            }
        }
        let format: EmbeddedFormat
        switch typeName?.uppercased() {
        case nil:
            if let schemaField { throw APIError.schemaRegistryRequired("with \(schemaField)") }
            format = .json
        case "BINARY": format = .binary
        case "JSON": format = .json
        case "STRING": format = .string
        case "AVRO": throw APIError.schemaRegistryRequired("avro")
        case "JSONSCHEMA": throw APIError.schemaRegistryRequired("jsonschema")
        case "PROTOBUF": throw APIError.schemaRegistryRequired("protobuf")
        case let other?: throw APIError.badRequest("Bad Request: unknown type \(other): use BINARY, JSON or STRING")
        }
        if let schemaField {
            throw APIError.badRequest(
                "Bad Request: type \(format.rawValue.uppercased()) cannot be used with \(schemaField)"
            )
        }
        guard let dataStart else {
            // No data: a null key or value, still reported with its type.
            return (nil, ["type": .string(format.rawValue.uppercased()), "size": 0])
        }
        var dataReader = JSONReader(reader.bytes)
        dataReader.seek(to: dataStart)
        let data = try EmbeddedCodec.read(&dataReader, format: format, into: &storage)
        return (data, ["type": .string(format.rawValue.uppercased()), "size": .int(data?.count ?? 0)])
    }

}
