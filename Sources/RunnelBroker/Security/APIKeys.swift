import Crypto
import Dispatch
import Foundation
import HummingbirdBcrypt
import Synchronization

/// An API key as listed: never its secret.
public struct APIKey: Sendable, Hashable {
    public var key: String
    public var description: String
    public var superUser: Bool
    /// Milliseconds since the epoch.
    public var createdAt: Int64

    /// `User:<key>`, the principal ACLs name.
    public var principal: String { Caller.principal(ofKey: key) }
}

/// A key just created, with its secret: the only time the secret exists outside the client.
public struct CreatedAPIKey: Sendable {
    public var apiKey: APIKey
    public var secret: String
}

/// API keys (Confluent Cloud's model: a key id and a secret, used as HTTP Basic user and password), kept in
/// `metadata.db` with the secret only as a bcrypt hash.
///
/// bcrypt is slow on purpose, so it never runs per request: a key verified once is remembered (as a SHA-256 of its
/// secret) and re-checked against the catalog at most every ``recheckInterval`` — cheaply, by comparing the stored
/// hash, so a key deleted by another process stops working within that interval. bcrypt runs on one dedicated
/// thread, so a flood of wrong secrets queues there and never takes the cooperative pool or the I/O threads; a
/// wrong secret just tried is remembered too and refused without hashing again.
public final class APIKeyStore: Sendable {
    /// bcrypt's work factor: 2^cost rounds.
    static let cost: UInt8 = 11
    static let recheckInterval: Duration = .seconds(30)
    static let rememberedFailures = 1024

    private struct Verified {
        var secretDigest: [UInt8]
        var secretHash: String
        var checkedAt: ContinuousClock.Instant
    }

    private struct Cache {
        var verified: [String: Verified] = [:]
        /// Recent wrong `key:secret` digests.
        var failures: Set<[UInt8]> = []
        var failureOrder: [[UInt8]] = []
    }

    private let catalog: MetadataCatalog
    private let authorizer: Authorizer?
    private let cache = Mutex(Cache())
    private static let hashing = DispatchQueue(label: "runnel.bcrypt")

    init(catalog: MetadataCatalog, authorizer: Authorizer?) {
        self.catalog = catalog
        self.authorizer = authorizer
    }

    /// Opens the keys of a data directory without a running broker (`runnel api-key create --data-dir`), creating
    /// the directory and catalog if needed. A running server sees new keys at once, deleted ones within
    /// ``recheckInterval``.
    public static func open(dataDirectory: String) async throws(BrokerError) -> APIKeyStore {
        let result: Result<MetadataCatalog, BrokerError> = await onHashingThread {
            do {
                try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            } catch {
                return .failure(BrokerError(.kafkaStorageError, "cannot create \(dataDirectory): \(error)"))
            }
            return Result { () throws(BrokerError) in try MetadataCatalog.open(path: dataDirectory + "/metadata.db") }
        }
        return APIKeyStore(catalog: try result.get(), authorizer: nil)
    }

    // MARK: Managing keys

    public func create(description: String, superUser: Bool) async throws(BrokerError) -> CreatedAPIKey {
        let key = Self.randomString(length: 16, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let secret = Self.randomString(
            length: 64,
            alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        )
        let hash = await Self.onHashingThread { Bcrypt.hash(secret, cost: Self.cost) }
        let stored = StoredAPIKey(
            key: key,
            secretHash: hash,
            description: description,
            superUser: superUser,
            createdAt: Int64(Date().timeIntervalSince1970 * 1000)
        )
        try await catalog.insertAPIKey(stored)
        if superUser { authorizer?.setSuperUser(Caller.principal(ofKey: key), true) }
        return CreatedAPIKey(apiKey: Self.apiKey(stored), secret: secret)
    }

    public func list() async throws(BrokerError) -> [APIKey] {
        try await catalog.loadAPIKeys().map(Self.apiKey)
    }

    public func describe(_ key: String) async throws(BrokerError) -> APIKey? {
        try await catalog.apiKey(key).map(Self.apiKey)
    }

    /// Whether the key existed.
    public func delete(_ key: String) async throws(BrokerError) -> Bool {
        let existed = try await catalog.deleteAPIKey(key)
        cache.withLock { _ = $0.verified.removeValue(forKey: key) }
        authorizer?.setSuperUser(Caller.principal(ofKey: key), false)
        return existed
    }

    public func close() throws(BrokerError) {
        try catalog.close()
    }

    // MARK: Authenticating

    /// The key's principal when the secret is the key's; nil otherwise.
    public func authenticate(key: String, secret: String) async throws(BrokerError) -> String? {
        let digest = Array(SHA256.hash(data: Array(secret.utf8)))
        let now = ContinuousClock.now
        enum Cached {
            case fresh
            case stale(String)
            case failed, unknown
        }
        let cached = cache.withLock { cache -> Cached in
            if let verified = cache.verified[key], Self.constantTimeEqual(verified.secretDigest, digest) {
                return now - verified.checkedAt < Self.recheckInterval ? .fresh : .stale(verified.secretHash)
            }
            return cache.failures.contains(Self.failureDigest(key: key, secretDigest: digest)) ? .failed : .unknown
        }
        switch cached {
        case .fresh:
            return Caller.principal(ofKey: key)
        case .failed:
            return nil
        case .stale(let secretHash):
            // The same secret already passed bcrypt against this hash: the key is valid while its hash is unchanged.
            guard let stored = try await catalog.apiKey(key), stored.secretHash == secretHash else {
                cache.withLock { _ = $0.verified.removeValue(forKey: key) }
                return nil
            }
            remember(stored, digest: digest, at: now)
            return Caller.principal(ofKey: key)
        case .unknown:
            guard let stored = try await catalog.apiKey(key) else { return nil }
            let matches = await Self.onHashingThread { Bcrypt.verify(secret, hash: stored.secretHash) }
            guard matches else {
                rememberFailure(Self.failureDigest(key: key, secretDigest: digest))
                return nil
            }
            remember(stored, digest: digest, at: now)
            return Caller.principal(ofKey: key)
        }
    }

    private func remember(_ stored: StoredAPIKey, digest: [UInt8], at now: ContinuousClock.Instant) {
        cache.withLock { cache in
            cache.verified[stored.key] = Verified(secretDigest: digest, secretHash: stored.secretHash, checkedAt: now)
        }
        authorizer?.setSuperUser(Caller.principal(ofKey: stored.key), stored.superUser)
    }

    private func rememberFailure(_ digest: [UInt8]) {
        cache.withLock { cache in
            guard cache.failures.insert(digest).inserted else { return }
            cache.failureOrder.append(digest)
            if cache.failureOrder.count > Self.rememberedFailures {
                cache.failures.remove(cache.failureOrder.removeFirst())
            }
        }
    }

    // MARK: Helpers

    private static func failureDigest(key: String, secretDigest: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: Array(key.utf8) + [0] + secretDigest))
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    private static func randomString(length: Int, alphabet: String) -> String {
        // SystemRandomNumberGenerator reads the kernel's CSPRNG (getrandom on Linux).
        var generator = SystemRandomNumberGenerator()
        let characters = Array(alphabet)
        return String((0..<length).map { _ in characters[Int.random(in: 0..<characters.count, using: &generator)] })
    }

    private static func apiKey(_ stored: StoredAPIKey) -> APIKey {
        APIKey(
            key: stored.key,
            description: stored.description,
            superUser: stored.superUser,
            createdAt: stored.createdAt
        )
    }

    /// Runs slow, blocking work (bcrypt, opening the catalog) on a dedicated thread, off the cooperative pool.
    private static func onHashingThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            hashing.async { continuation.resume(returning: body()) }
        }
    }
}
