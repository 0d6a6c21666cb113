import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import RunnelJSON
import Synchronization

/// A failure a client command reports: the server's own message, or why the server could not be reached. The
/// command exits 1 with `Error: <message>`.
struct ClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The server's HTTP APIs as the CLI uses them: the REST proxy (v2 and v3) and Kafka Connect's REST API.
struct RunnelAPI: Sendable {
    let proxy: String
    let connect: String
    /// `Basic <base64 key:secret>`, sent with every request when set.
    let authorization: String?
    /// One client for the command (it runs until the process exits; the client is never shut down). A server that
    /// is down is said at once: connection attempts are not retried.
    let client: HTTPClient
    /// The most a response body may be (a page of records is at most a few megabytes).
    static let maximumBody = 256 * 1024 * 1024

    init(
        proxy: String,
        connect: String,
        credentials: (key: String, secret: String)? = nil,
        trustedCertificates: String? = nil
    ) throws {
        self.proxy = proxy
        self.connect = connect
        authorization = credentials.map { "Basic " + Data("\($0.key):\($0.secret)".utf8).base64EncodedString() }
        client = try Self.client(trusting: trustedCertificates)
    }

    /// The clients of the process, by the certificates they trust: made once, kept until the process exits (a
    /// client must never be released without a shutdown).
    private static let clients = Mutex<[String: HTTPClient]>([:])

    private static func client(trusting trustedCertificates: String?) throws -> HTTPClient {
        try clients.withLock { clients in
            if let client = clients[trustedCertificates ?? ""] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(10))
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.decompression = .disabled
            if let trustedCertificates {
                var tls = TLSConfiguration.makeClientConfiguration()
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(trustedCertificates))
                } catch {
                    throw ClientError("Cannot read the certificates in \(trustedCertificates): \(error)")
                }
                configuration.tlsConfiguration = tls
            }
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[trustedCertificates ?? ""] = client
            return client
        }
    }

    struct Reply {
        var status: Int
        var body: ByteBuffer

        /// The body as JSON; a body that is not JSON is an error naming the status.
        func json() throws -> JSONValue {
            if body.readableBytes == 0 { return .null }
            do {
                return try JSONValue.parse(body)
            } catch {
                throw ClientError(
                    "The server answered \(status) with a body that is not JSON: \(String(buffer: body).prefix(200))"
                )
            }
        }
    }

    /// Sends a request and returns the reply, whatever its status; fails only when the server cannot be reached.
    func send(
        _ method: HTTPMethod,
        _ url: String,
        body: ByteBuffer? = nil,
        contentType: String = "application/json",
        accept: String = "application/json",
        timeout: TimeAmount = .seconds(120)
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: accept)
        request.headers.add(name: "User-Agent", value: "runnel-cli/\(RunnelVersion.current)")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(body)
        }
        do {
            let response = try await client.execute(request, timeout: timeout)
            let bytes = try await response.body.collect(upTo: Self.maximumBody)
            return Reply(status: Int(response.status.code), body: bytes)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ClientError(
                "Cannot reach Runnel at \(Self.origin(url)): \(Self.describe(error)). Is `runnel serve` running there? (--url, RUNNEL_URL)"
            )
        }
    }

    /// Sends a request and returns its JSON body when the status is 2xx; otherwise fails with the server's message.
    @discardableResult
    func call(
        _ method: HTTPMethod,
        _ url: String,
        json body: JSONValue? = nil,
        contentType: String = "application/json",
        accept: String = "application/json"
    ) async throws -> JSONValue {
        let reply = try await send(method, url, body: body?.bytes, contentType: contentType, accept: accept)
        try Self.check(reply)
        return try reply.json()
    }

    /// Fails with the server's `message` (Confluent's and Kafka Connect's error body) unless the status is 2xx.
    static func check(_ reply: Reply) throws {
        guard !(200..<300).contains(reply.status) else { return }
        let json = try? JSONValue.parse(reply.body)
        if let message = json?["message"]?.stringValue {
            throw ClientError(message)
        }
        throw ClientError("The server answered \(reply.status): \(String(buffer: reply.body).prefix(300))")
    }

    // MARK: Paths

    /// The id of the cluster behind the proxy (v3 paths start with it).
    func clusterId() async throws -> String {
        let clusters = try await call(.GET, proxy + "/v3/clusters")
        guard let id = clusters["data"]?.arrayValue?.first?["cluster_id"]?.stringValue else {
            throw ClientError("\(proxy)/v3/clusters named no cluster; is this a Runnel or Confluent REST Proxy URL?")
        }
        return id
    }

    func v3(_ cluster: String, _ path: String = "") -> String {
        "\(proxy)/v3/clusters/\(Self.segment(cluster))\(path)"
    }

    /// One path segment, percent-encoded (group ids and connector names may hold any character).
    static func segment(_ value: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#%;")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    static func query(_ value: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+#")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    private static func origin(_ url: String) -> String {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, let host = parsed.host else { return url }
        return "\(scheme)://\(host)\(parsed.port.map { ":\($0)" } ?? "")"
    }

    private static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectTimeout") || text.contains("connectionRefused") || text.contains("Connection refused")
            || text.contains("ECONNREFUSED")
        {
            return "connection refused"
        }
        if text.contains("deadlineExceeded") { return "no answer in time" }
        return text
    }
}
