import Hummingbird

// Usage: noop-server PORT. POST /topics/{topic} collects the body, as the proxy does, and answers a fixed response.
let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 18_090 : 18_090
let router = Router()
router.post("/topics/{topic}") { request, _ -> Response in
    _ = try await request.body.collect(upTo: 16 * 1024 * 1024)
    return Response(
        status: .ok,
        headers: [.contentType: "application/vnd.kafka.v2+json"],
        body: ResponseBody(
            byteBuffer: ByteBuffer(string: #"{"offsets":[],"key_schema_id":null,"value_schema_id":null}"#)
        )
    )
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
