import ArgumentParser
import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
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

    private static func load(_ certificatePath: String, _ keyPath: String, _ clientCAPath: String?) throws
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

extension HTTPServerBuilder {
    /// HTTP/1.1 over TLS; with `plaintextFromLoopback`, a connection from a loopback address that does not start
    /// a TLS handshake is served in plaintext on the same port, and one from elsewhere gets a 400 saying to use
    /// https.
    static func secured(
        _ configuration: HTTP1Channel.Configuration,
        files: TLSFiles,
        plaintextFromLoopback: Bool
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            SecuredChannel(
                base: HTTP1Channel(responder: responder, configuration: configuration),
                files: files,
                plaintextFromLoopback: plaintextFromLoopback
            )
        }
    }
}

/// A server child channel with TLS in front of its own setup; the TLS context is the files' current one.
struct SecuredChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let files: TLSFiles
    let plaintextFromLoopback: Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let context = files.context
        return channel.eventLoop.makeCompletedFuture {
            if plaintextFromLoopback {
                let loopback = channel.remoteAddress.map(Self.isLoopback) ?? false
                try channel.pipeline.syncOperations.addHandler(
                    TLSSniffer(context: context, allowPlaintext: loopback)
                )
            } else {
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

extension SecuredChannel: HTTPChannelHandler where Base: HTTPChannelHandler {
    var responder: HTTPChannelHandler.Responder { base.responder }
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
            let body = #"{"error_code":400,"message":"This port takes TLS only from other machines: use https://"}"#
            var response = context.channel.allocator.buffer(capacity: 256)
            response.writeString(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            )
            let channel = context.channel
            context.writeAndFlush(NIOAny(response)).whenComplete { _ in channel.close(promise: nil) }
            return
        }
        context.fireChannelRead(data)
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
