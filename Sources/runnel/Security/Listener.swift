import ArgumentParser
import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOSSL
import RunnelHTTP
import RunnelJSON
import RunnelLog
import RunnelRecords
import Synchronization

/// What the listeners accept, as AWS MSK's in-transit encryption choices.
enum ClientEncryption: String, CaseIterable, ExpressibleByArgument, LosslessStringConvertible {
    /// TLS only.
    case tls = "TLS"
    /// TLS, and plaintext from clients on this machine (loopback addresses), on the same port.
    case tlsPlaintext = "TLS_PLAINTEXT"
    /// Plaintext only.
    case plaintext = "PLAINTEXT"

    init?(_ description: String) {
        self.init(rawValue: description.uppercased().replacingOccurrences(of: "-", with: "_"))
    }

    init?(argument: String) { self.init(argument) }

    var description: String { rawValue }
}

/// The server's certificate and key (and the CA that client certificates must chain to, for mutual TLS), read from
/// PEM files; ``reload()`` reads them again for the connections that come next (a renewed certificate needs no
/// restart). TLS 1.2 is the oldest version offered.
final class TLSFiles: Sendable {
    let certificatePath: String
    let keyPath: String
    let clientCAPath: String?
    private let current: Mutex<NIOSSLContext>

    init(certificatePath: String, keyPath: String, clientCAPath: String?) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.clientCAPath = clientCAPath
        current = Mutex(try Self.load(certificatePath, keyPath, clientCAPath))
    }

    var context: NIOSSLContext { current.withLock { $0 } }

    func reload() throws {
        let context = try Self.load(certificatePath, keyPath, clientCAPath)
        current.withLock { $0 = context }
    }

    private static func load(
        _ certificatePath: String,
        _ keyPath: String,
        _ clientCAPath: String?
    ) throws
        -> NIOSSLContext
    {
        func read<T>(_ what: String, _ path: String, _ body: () throws -> T) throws -> T {
            do {
                return try body()
            } catch {
                throw ServeError("Cannot read the \(what) \(path): \(error)")
            }
        }
        let chain = try read("certificate", certificatePath) { try NIOSSLCertificate.fromPEMFile(certificatePath) }
        guard !chain.isEmpty else { throw ServeError("No certificate in \(certificatePath)") }
        let key = try read("private key", keyPath) { try NIOSSLPrivateKey(file: keyPath, format: .pem) }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        if let clientCAPath {
            let authorities = try read("client CA", clientCAPath) { try NIOSSLCertificate.fromPEMFile(clientCAPath) }
            configuration.trustRoots = .certificates(authorities)
            configuration.certificateVerification = .noHostnameVerification
        }
        return try read("TLS settings of", certificatePath) { try NIOSSLContext(configuration: configuration) }
    }
}

/// How many connections the listeners hold at once, in all and per client address (Kafka's `max.connections` and
/// `max.connections.per.ip`), counted across both listeners, and within the process's file descriptors (each
/// connection holds one of ``DescriptorBudget``'s). A connection over a limit is answered 503 (or, over TLS, just
/// closed) and closed at once, so idle or slow clients cannot exhaust the process.
final class ConnectionLimits: Sendable {
    let maxConnections: Int
    let maxConnectionsPerIP: Int
    let descriptors: DescriptorBudget
    private struct Counts {
        var total = 0
        var perAddress: [String: Int] = [:]
    }
    private let counts = Mutex(Counts())

    init(maxConnections: Int, maxConnectionsPerIP: Int, descriptors: DescriptorBudget = .unlimited) {
        self.maxConnections = maxConnections
        self.maxConnectionsPerIP = maxConnectionsPerIP
        self.descriptors = descriptors
    }

    /// Counts a new connection; false (and nothing counted) when it is over a limit.
    func admit(_ address: String) -> Bool {
        counts.withLock { counts in
            let fromAddress = counts.perAddress[address, default: 0]
            guard counts.total < maxConnections, fromAddress < maxConnectionsPerIP, descriptors.acquireConnection()
            else { return false }
            counts.total += 1
            counts.perAddress[address] = fromAddress + 1
            return true
        }
    }

    func release(_ address: String) {
        descriptors.releaseConnection()
        counts.withLock { counts in
            counts.total -= 1
            let left = counts.perAddress[address, default: 1] - 1
            counts.perAddress[address] = left > 0 ? left : nil
        }
    }

    var open: Int { counts.withLock { $0.total } }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with the connection limits, and TLS when `tls` is given. With `plaintextFromLoopback`, a TLS
    /// listener serves a connection from a loopback address that does not start a TLS handshake in plaintext on
    /// the same port; one from elsewhere gets a 400 saying to use https.
    static func runnel(
        _ configuration: HTTP1Channel.Configuration,
        limits: ConnectionLimits,
        tls: TLSFiles?,
        plaintextFromLoopback: Bool
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            ListenerChannel(
                base: HTTP1Channel(responder: responder, configuration: configuration),
                limits: limits,
                tls: tls,
                plaintextFromLoopback: plaintextFromLoopback
            )
        }
    }
}

/// A listener's connection: counted against the limits, then TLS (when on), then the base channel's own setup.
struct ListenerChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let limits: ConnectionLimits
    let tls: TLSFiles?
    let plaintextFromLoopback: Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let address = channel.remoteAddress?.ipAddress ?? ""
        let admitted = limits.admit(address)
        if admitted {
            channel.closeFuture.whenComplete { _ in limits.release(address) }
        }
        let context = tls?.context
        return channel.eventLoop.makeCompletedFuture {
            if !admitted {
                // Refused: the base is still set up (so the server sees an ordinary connection that ends at once).
                try channel.pipeline.syncOperations.addHandler(ConnectionRefuser(answer: context == nil))
            } else if let context, plaintextFromLoopback {
                let loopback = channel.remoteAddress.map(Self.isLoopback) ?? false
                try channel.pipeline.syncOperations.addHandler(TLSSniffer(context: context, allowPlaintext: loopback))
            } else if let context {
                try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
            }
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Base.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }

    static func isLoopback(_ address: SocketAddress) -> Bool {
        guard let ip = address.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}

extension ListenerChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { base.responder }
}

/// Ends a connection over the limits: a plaintext one is told so with a 503 first.
final class ConnectionRefuser: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let answer: Bool

    init(answer: Bool) {
        self.answer = answer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard answer else {
            context.close(promise: nil)
            return
        }
        answerAndClose(
            context,
            status: "503 Service Unavailable",
            code: 503,
            "Too many connections: try again later",
            extraHeaders: "Retry-After: 1\r\n"
        )
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Looks at a connection's first byte: a TLS handshake record (0x16) gets TLS; anything else is plaintext HTTP,
/// served when allowed and otherwise answered with a 400 naming https, then closed.
final class TLSSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let context: NIOSSLContext
    private let allowPlaintext: Bool

    init(context: NIOSSLContext, allowPlaintext: Bool) {
        self.context = context
        self.allowPlaintext = allowPlaintext
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        if first == 0x16 {
            do {
                try context.pipeline.syncOperations.addHandler(
                    NIOSSLServerHandler(context: self.context),
                    position: .after(self)
                )
            } catch {
                context.close(promise: nil)
                return
            }
        } else if !allowPlaintext {
            answerAndClose(
                context,
                status: "400 Bad Request",
                code: 400,
                "This port takes TLS only from other machines: use https://"
            )
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Answers a connection the HTTP handlers never see (refused before them) with one plain HTTP/1.1 response in the
/// API's error format, written from the front of the pipeline, then closes it.
private func answerAndClose(
    _ context: ChannelHandlerContext,
    status: String,
    code: Int,
    _ message: String,
    extraHeaders: String = ""
) {
    let body = #"{"error_code":\#(code),"message":"\#(message)"}"#
    var response = context.channel.allocator.buffer(capacity: 256)
    response.writeString(
        "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\(extraHeaders)Connection: close\r\n\r\n\(body)"
    )
    let channel = context.channel
    context.writeAndFlush(NIOAny(response)).whenComplete { _ in channel.close(promise: nil) }
}

/// Answers a request the HTTP parser cannot read (a request line or header over the limits, broken syntax) with a
/// 400 in the API's error format, instead of an empty body, then closes the connection. Sits after the HTTP codec,
/// and stays quiet when a response is already on its way (it can only close then).
final class ParserErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var responding = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: responding = true
        case .end: responding = false
        case .body: break
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !responding else {
            context.close(promise: nil)
            return
        }
        let message =
            parserError == .headerOverflow
            ? "The request line or its headers are larger than this server accepts"
            : "The request is not valid HTTP/1.1 (\(parserError))"
        let body = APIError(.badRequest, 400, message).body.bytes
        var headers = HTTPFields()
        headers[.contentType] = MediaType.json
        headers[.contentLength] = "\(body.readableBytes)"
        headers[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .badRequest, headerFields: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
