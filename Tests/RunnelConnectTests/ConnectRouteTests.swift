import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import RunnelBroker
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelTestSupport
import Testing

@testable import RunnelConnect

/// Kafka Connect's REST API driven in process (HummingbirdTesting's router client): the connector lifecycle and its
/// error codes, as a Connect client (kafka-connect-py, curl scripts) sees them.
@Suite struct ConnectRouteTests {
    static func send(
        _ client: any TestClientProtocol,
        _ method: HTTPRequest.Method,
        _ path: String,
        _ body: String? = nil
    ) async throws -> (status: HTTPResponse.Status, json: JSONValue?) {
        var headers = HTTPFields()
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(
            uri: path,
            method: method,
            headers: headers,
            body: body.map { ByteBuffer(string: $0) }
        )
        return (response.status, response.body.readableBytes > 0 ? try JSONValue.parse(response.body) : nil)
    }

    @Test func aConnectorsLifecycleAndItsErrors() async throws {
        // A worker over an embedded broker with the test plugins, running as in the server.
        try await WorkerTests().withWorker { worker, broker in
            let router = Router()
            router.middlewares.add(APIErrorMiddleware())
            ConnectAPI(
                broker: broker,
                worker: worker,
                loggers: LoggerLevels(root: .info, loggers: []),
                version: "test",
                commit: "test"
            ).addRoutes(to: RouteTable(router: router))
            let app = Application(router: router, logger: quietLogger)
            try await app.test(.router) { client in
                let root = try await Self.send(client, .get, "/")
                #expect(root.status == .ok && root.json?["version"]?.stringValue == "test")
                #expect(try await Self.send(client, .get, "/connectors").json == .array([]))
                let plugins = try await Self.send(client, .get, "/connector-plugins")
                #expect(
                    plugins.json?.arrayValue?.compactMap { $0["class"]?.stringValue }.contains(
                        "test.CountingSourceConnector"
                    ) == true
                )

                let config = #"{"connector.class":"test.CountingSourceConnector","count":"3","tasks.max":"1"}"#
                let created = try await Self.send(
                    client,
                    .post,
                    "/connectors",
                    #"{"name":"counter","config":\#(config)}"#
                )
                #expect(created.status == .created)
                #expect(created.json?["name"]?.stringValue == "counter")
                let duplicate = try await Self.send(
                    client,
                    .post,
                    "/connectors",
                    #"{"name":"counter","config":\#(config)}"#
                )
                #expect(duplicate.status == .conflict && duplicate.json?["error_code"]?.int64Value == 409)

                // A config that misses a required key is refused with the problem named.
                let invalid = try await Self.send(
                    client,
                    .post,
                    "/connectors",
                    #"{"name":"broken","config":{"connector.class":"test.CountingSourceConnector"}}"#
                )
                #expect(invalid.status == .badRequest && invalid.json?["error_code"]?.int64Value == 400)
                #expect(invalid.json?["message"]?.stringValue?.contains("count") == true)
                let unknownClass = try await Self.send(
                    client,
                    .put,
                    "/connector-plugins/NoSuchConnector/config/validate",
                    #"{"connector.class":"NoSuchConnector"}"#
                )
                #expect(unknownClass.status == .badRequest)
                #expect(unknownClass.json?["message"]?.stringValue?.contains("NoSuchConnector") == true)

                let missing = try await Self.send(client, .get, "/connectors/missing/status")
                #expect(missing.status == .notFound && missing.json?["error_code"]?.int64Value == 404)

                var state: String?
                for _ in 0..<200 where state != "RUNNING" {
                    state = try await Self.send(client, .get, "/connectors/counter/status").json?["connector"]?[
                        "state"
                    ]?
                    .stringValue
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(state == "RUNNING")
                #expect(try await Self.send(client, .put, "/connectors/counter/pause").status == .accepted)
                let offsetsWhileRunning = try await Self.send(
                    client,
                    .patch,
                    "/connectors/counter/offsets",
                    #"{"offsets":[]}"#
                )
                // Offsets move only while the connector is stopped, as Kafka Connect says (KIP-875).
                #expect(offsetsWhileRunning.status == .badRequest)
                #expect(offsetsWhileRunning.json?["message"]?.stringValue?.contains("STOPPED") == true)
                #expect(try await Self.send(client, .delete, "/connectors/counter").status == .noContent)
                #expect(try await Self.send(client, .get, "/connectors/counter").status == .notFound)
                #expect(try await Self.send(client, .post, "/connectors", "not json").status == .badRequest)
            }
        }
    }
}
