import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import RunnelBroker
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelRestProxy
import RunnelTestSupport
import Testing

/// Fixed-seed fuzzing of the produce request paths (v2 JSON and binary, v3 single records, streams and batches):
/// mutated valid bodies are posted to the proxy's routes in-process. No answer may be a 5xx, every error must be in
/// the API's format, and a stream's per-record errors must be the client's (4xx), never the server's.
@Suite struct ProduceFuzzTests {
    static let v2Seeds: [(String, String)] = [
        (
            "application/vnd.kafka.json.v2+json",
            #"{"records":[{"key":"k","value":{"a":[1,2.5,"x",null,true]}},{"value":"v","partition":1}]}"#
        ),
        (
            "application/vnd.kafka.binary.v2+json",
            #"{"records":[{"key":"a2V5","value":"dmFsdWU=","partition":0},{"value":null}]}"#
        ),
        ("application/vnd.kafka.json.v2+json", #"{"key_schema":"x","records":[{"value":1e308},{"value":-0.0}]}"#),
    ]

    static let v3Seeds: [String] = [
        #"{"partition_id":1,"headers":[{"name":"h","value":"eA=="}],"key":{"type":"STRING","data":"k"},"value":{"type":"JSON","data":{"n":[1,{"m":"é✓"}]}},"timestamp":"2026-01-02T03:04:05.678Z"}"#,
        #"{"value":{"type":"BINARY","data":"aGVsbG8="}}{"value":{"data":"plain"}} {"key":{"data":12}}"#,
        #"{"value":{"type":"STRING","data":"\u00e9\ud83d\ude00\n\t\"q\""}}"#,
    ]

    static let batchSeed =
        #"{"entries":[{"id":"1","value":{"type":"STRING","data":"a"}},{"id":"2","key":{"data":"k"},"partition_id":0}]}"#

    @Test(arguments: [UInt64(11), 12])
    func mutatedProduceBodiesAreAnsweredAsTheClientsErrors(seed: UInt64) async throws {
        let directory = TemporaryDirectory()
        let broker = try await EmbeddedBroker.open(
            EmbeddedBroker.Configuration(dataDirectory: directory.path),
            logger: quietLogger
        )
        _ = try await broker.createTopic(CreateTopicRequest(name: "fuzz", partitions: 2))
        let cluster = broker.clusterId
        let router = Router()
        router.middlewares.add(APIErrorMiddleware())
        RestProxy(broker: broker, logger: quietLogger).addRoutes(to: RouteTable(router: router))
        let app = Application(router: router, logger: quietLogger)
        var generator = SeededGenerator(seed: seed)
        var inputs: [(path: String, contentType: String, body: [UInt8])] = []
        for iteration in 0..<600 {
            let path: String
            let contentType: String
            let seedBody: String
            switch iteration % 3 {
            case 0:
                let seed = Self.v2Seeds[Int.random(in: 0..<Self.v2Seeds.count, using: &generator)]
                (path, contentType, seedBody) = ("/topics/fuzz", seed.0, seed.1)
            case 1:
                path = "/v3/clusters/\(cluster)/topics/fuzz/records"
                contentType = "application/json"
                seedBody = Self.v3Seeds[Int.random(in: 0..<Self.v3Seeds.count, using: &generator)]
            default:
                path = "/v3/clusters/\(cluster)/topics/fuzz/records:batch"
                contentType = "application/json"
                seedBody = Self.batchSeed
            }
            inputs.append((path, contentType, Mutator.mutate(Array(seedBody.utf8), using: &generator)))
        }
        let cases = inputs
        let statuses = try await app.test(.router) { client in
            var statuses: [Int: Int] = [:]
            for (path, contentType, body) in cases {
                var headers = HTTPFields()
                headers[.contentType] = contentType
                try await client.execute(
                    uri: path,
                    method: .post,
                    headers: headers,
                    body: ByteBuffer(bytes: body)
                ) { response in
                    statuses[response.status.code, default: 0] += 1
                    let text = String(buffer: response.body)
                    let context = "\(path) \(String(decoding: body, as: UTF8.self)) -> \(response.status.code) \(text)"
                    #expect(response.status.code < 500, "\(context)")
                    if response.status.code >= 400 {
                        let error = try? JSONValue.parse(response.body)
                        #expect(error?["error_code"]?.int64Value != nil, "\(context)")
                    }
                    // A stream answers 200 with one report per record: each an error of the client or a success.
                    if path.hasSuffix("/records") && response.status == .ok {
                        for line in text.split(separator: "\n") {
                            let report = try? JSONValue.parse(ByteBuffer(string: String(line)))
                            let code = report?["error_code"]?.int64Value ?? 0
                            #expect(
                                code == 200 || (400..<500).contains(code) || (40000..<50000).contains(code),
                                "\(context)"
                            )
                        }
                    }
                }
            }
            return statuses
        }
        // Every case was answered, some accepted and some refused: the mutations reach both sides.
        #expect(statuses.values.reduce(0, +) == cases.count)
        #expect(statuses[200, default: 0] > 0 && statuses.keys.contains { $0 >= 400 }, "\(statuses)")
        try await broker.close()
    }
}
