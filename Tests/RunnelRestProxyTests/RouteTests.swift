import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import RunnelBroker
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelRestProxy
import RunnelTestSupport
import ServiceLifecycle
import Testing

/// The REST proxy's routes driven in process (HummingbirdTesting's router client): the main paths of v2 and v3 and
/// their error codes, as a Confluent REST Proxy client sees them.
@Suite struct RouteTests {
    /// A proxy over a new broker, and a client for it.
    static func withProxy(
        _ name: String = #function,
        _ body: @Sendable (_ client: any TestClientProtocol, _ cluster: String) async throws -> Void
    ) async throws {
        let directory = TemporaryDirectory(name)
        let broker = try await EmbeddedBroker.open(
            EmbeddedBroker.Configuration(dataDirectory: directory.path),
            logger: quietLogger
        )
        let router = Router()
        router.middlewares.add(APIErrorMiddleware())
        let proxy = RestProxy(broker: broker, logger: quietLogger)
        let table = RouteTable(router: router)
        proxy.addRoutes(to: table)
        // As the server adds it after every route: a known path with a method it lacks is 405.
        router.middlewares.add(table.methodNotAllowedMiddleware())
        let app = Application(router: router, logger: quietLogger)
        let cluster = broker.clusterId
        // The broker's services (the group coordinator's clock among them) and the consumer instances' service run
        // beside the routes, as in the server.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for service in broker.services + proxy.services { group.addTask { try await service.run() } }
            try await app.test(.router) { client in try await body(client, cluster) }
            group.cancelAll()
        }
        try await broker.close()
    }

    static func json(_ response: TestResponse) throws -> JSONValue {
        try JSONValue.parse(response.body)
    }

    static func send(
        _ client: any TestClientProtocol,
        _ method: HTTPRequest.Method,
        _ path: String,
        _ body: String? = nil,
        contentType: String = "application/json",
        accept: String? = nil
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        if body != nil { headers[.contentType] = contentType }
        if let accept { headers[.accept] = accept }
        return try await client.execute(
            uri: path,
            method: method,
            headers: headers,
            body: body.map { ByteBuffer(string: $0) }
        )
    }

    /// An error answer in Confluent's format, with its code.
    static func expectError(_ response: TestResponse, status: HTTPResponse.Status, code: Int) throws {
        #expect(response.status == status, "\(String(buffer: response.body))")
        let body = try json(response)
        #expect(body["error_code"]?.intValue == code, "\(String(buffer: response.body))")
        #expect(body["message"]?.stringValue?.isEmpty == false)
    }

    @Test func v3TopicsAndRecords() async throws {
        try await Self.withProxy { client, cluster in
            let clusters = try Self.json(try await Self.send(client, .get, "/v3/clusters"))
            #expect(clusters["data"]?[0]?["cluster_id"]?.stringValue == cluster)

            let topics = "/v3/clusters/\(cluster)/topics"
            let created = try await Self.send(client, .post, topics, #"{"topic_name":"orders","partitions_count":3}"#)
            #expect(created.status == .created)
            #expect(try Self.json(created)["partitions_count"]?.intValue == 3)
            try Self.expectError(
                try await Self.send(client, .post, topics, #"{"topic_name":"orders","partitions_count":3}"#),
                status: .badRequest,
                code: 40002
            )
            try Self.expectError(try await Self.send(client, .get, "\(topics)/missing"), status: .notFound, code: 40403)
            try Self.expectError(
                try await Self.send(client, .post, topics, #"{"topic_name":"bad name!"}"#),
                status: .unprocessableContent,
                code: 42206
            )

            let produced = try await Self.send(
                client,
                .post,
                "\(topics)/orders/records",
                #"{"partition_id":1,"key":{"type":"STRING","data":"k"},"value":{"type":"JSON","data":{"n":1}}}"#
            )
            #expect(produced.status == .ok)
            let report = try Self.json(produced)
            #expect(report["error_code"]?.intValue == 200)
            #expect(report["partition_id"]?.intValue == 1 && report["offset"]?.intValue == 0)

            let read = try Self.json(
                try await Self.send(client, .get, "\(topics)/orders/partitions/1/records?offset=0")
            )
            // Served as bytes (base64 of what was stored): the stateless read knows no schema.
            #expect(read["data"]?[0]?["value"]?["data"]?.stringValue == "eyJuIjoxfQ==")
            #expect(read["data"]?[0]?["key"]?["data"]?.stringValue == "aw==")
            #expect(read["data"]?[0]?["offset"]?.intValue == 0)

            // A body the route does not take, and a method it does not answer.
            let form = try await Self.send(client, .post, topics, "topic_name=x", contentType: "text/plain")
            try Self.expectError(form, status: .unsupportedMediaType, code: 415)
            try Self.expectError(try await Self.send(client, .put, topics), status: .methodNotAllowed, code: 405)
        }
    }

    @Test func v2ProduceAndItsErrors() async throws {
        try await Self.withProxy { client, cluster in
            _ = try await Self.send(
                client,
                .post,
                "/v3/clusters/\(cluster)/topics",
                #"{"topic_name":"t","partitions_count":2}"#
            )
            let json = "application/vnd.kafka.json.v2+json"
            let produced = try await Self.send(
                client,
                .post,
                "/topics/t",
                #"{"records":[{"key":"a","value":{"x":1}},{"value":[1,2],"partition":1}]}"#,
                contentType: json
            )
            #expect(produced.status == .ok)
            let offsets = try Self.json(produced)["offsets"]
            #expect(offsets?[1]?["partition"]?.intValue == 1)
            #expect(offsets?[0]?["error_code"] == .null)

            try Self.expectError(
                try await Self.send(client, .post, "/topics/missing", #"{"records":[{"value":1}]}"#, contentType: json),
                status: .notFound,
                code: 40401
            )
            try Self.expectError(
                try await Self.send(
                    client,
                    .post,
                    "/topics/t",
                    #"{"records":[{"value":1,"partition":7}]}"#,
                    contentType: json
                ),
                status: .notFound,
                code: 40402
            )
            let binary = try await Self.send(
                client,
                .post,
                "/topics/t",
                #"{"records":[{"value":"not base64!"}]}"#,
                contentType: "application/vnd.kafka.binary.v2+json"
            )
            try Self.expectError(binary, status: .badRequest, code: 400)
            #expect(String(buffer: binary.body).contains("not a valid base64 string"))
            let avro = try await Self.send(
                client,
                .post,
                "/topics/t",
                #"{"value_schema":"\"int\"","records":[{"value":1}]}"#,
                contentType: "application/vnd.kafka.avro.v2+json"
            )
            try Self.expectError(avro, status: .unprocessableContent, code: 42206)
        }
    }

    @Test func v2ConsumerInstances() async throws {
        try await Self.withProxy { client, cluster in
            let v2 = "application/vnd.kafka.v2+json"
            _ = try await Self.send(client, .post, "/v3/clusters/\(cluster)/topics", #"{"topic_name":"events"}"#)
            _ = try await Self.send(
                client,
                .post,
                "/topics/events",
                #"{"records":[{"value":"e1"},{"value":"e2"}]}"#,
                contentType: "application/vnd.kafka.json.v2+json"
            )
            let created = try await Self.send(
                client,
                .post,
                "/consumers/g",
                #"{"name":"c1","format":"json","auto.offset.reset":"earliest"}"#,
                contentType: v2
            )
            #expect(created.status == .ok)
            #expect(try Self.json(created)["instance_id"]?.stringValue == "c1")
            try Self.expectError(
                try await Self.send(client, .post, "/consumers/g", #"{"name":"c1","format":"json"}"#, contentType: v2),
                status: .conflict,
                code: 40902
            )
            let subscribed = try await Self.send(
                client,
                .post,
                "/consumers/g/instances/c1/subscription",
                #"{"topics":["events"]}"#,
                contentType: v2
            )
            #expect(subscribed.status == .noContent)
            var values: [String] = []
            for _ in 0..<20 where values.count < 2 {
                let read = try await Self.send(
                    client,
                    .get,
                    "/consumers/g/instances/c1/records?timeout=500",
                    accept: "application/vnd.kafka.json.v2+json"
                )
                #expect(read.status == .ok, "\(String(buffer: read.body))")
                if case .array(let records) = try Self.json(read) {
                    values += records.compactMap { $0["value"]?.stringValue }
                }
            }
            #expect(values == ["e1", "e2"])
            try Self.expectError(
                try await Self.send(
                    client,
                    .get,
                    "/consumers/g/instances/c1/records",
                    accept: "application/vnd.kafka.binary.v2+json"
                ),
                status: .notAcceptable,
                code: 40601
            )
            try Self.expectError(
                try await Self.send(
                    client,
                    .get,
                    "/consumers/g/instances/ghost/records",
                    accept: "application/vnd.kafka.json.v2+json"
                ),
                status: .notFound,
                code: 40403
            )
            let deleted = try await Self.send(client, .delete, "/consumers/g/instances/c1", contentType: v2)
            #expect(deleted.status == .noContent)
        }
    }
}

extension JSONValue {
    subscript(index: Int) -> JSONValue? {
        guard let elements = arrayValue, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    var intValue: Int? { int64Value.map { Int($0) } }
}
