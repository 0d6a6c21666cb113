import Crypto
import Dispatch
import Foundation
import HummingbirdBcrypt
public import RunnelBrokerAPI
import RunnelLog
import RunnelRecords
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

/// What presenting a key and a secret came to.
public enum AuthenticationResult: Sendable, Hashable {
    /// The secret is the key's: the caller is this principal.
    case authenticated(principal: String)
    /// Unknown key, wrong secret, or credentials no key can have (control characters).
    case rejected
    /// Too many failed attempts lately for this key id or from this address: refused without checking, try again
    /// after this long.
    case throttled(retryAfter: Duration)
}

/// API keys (Confluent Cloud's model: a key id and a secret, used as HTTP Basic user and password), kept in
/// `metadata.db` with the secret only as a salted SHA-256 hash (``SecretHash``).
///
/// A secret is 64 random characters (381 bits), so a fast hash is as safe against guessing as a slow one, and checking
/// one costs microseconds: no request ever waits for another's verification, and an unknown key id costs the same
/// work as a wrong secret, so answer times do not tell which key ids exist. Keys made by earlier versions carry a
/// bcrypt hash; it is checked once, on a dedicated thread, and replaced by the fast form.
///
/// A key verified once is remembered (as a SHA-256 of its secret) and re-checked against the catalog every
/// ``recheckInterval``, so a key deleted by another process stops working within that interval. Failed attempts are
/// counted per key id and per client address (``FailureLimiter``); past the limit a failure is answered
/// ``AuthenticationResult/throttled(retryAfter:)`` instead of rejected. The right secret is always accepted: checking it
/// is cheap, so an attacker hammering a key id cannot lock its owner out (only a legacy bcrypt hash is not checked
/// for a caller over the limit).
public final class APIKeyStore: Sendable {
    /// bcrypt's work factor of the hashes earlier versions wrote (checked once, then upgraded).
    static let legacyCost: UInt8 = 11
    static let recheckInterval: Duration = .seconds(30)

    private struct Verified {
        var secretDigest: [UInt8]
        var secretHash: String
        var checkedAt: ContinuousClock.Instant
    }

    private let catalog: MetadataCatalog
    private let authorizer: Authorizer?
    private let verified = Mutex<[String: Verified]>([:])
    private let limiter: FailureLimiter
    private static let hashing = DispatchQueue(label: "runnel.bcrypt")

    init(catalog: MetadataCatalog, authorizer: Authorizer?, limiter: FailureLimiter = FailureLimiter()) {
        self.catalog = catalog
        self.authorizer = authorizer
        self.limiter = limiter
    }

    /// Opens the keys of a data directory without a running broker (`runnel api-key create --data-dir`), creating
    /// the directory (mode 0700) and catalog if needed. A running server sees new keys at once, deleted ones within
    /// ``recheckInterval``.
    public static func open(dataDirectory: String) async throws(BrokerError) -> APIKeyStore {
        let result: Result<MetadataCatalog, BrokerError> = await onHashingThread {
            do throws(LogError) {
                try DataDirectory.create(dataDirectory)
            } catch {
                return .failure(BrokerError(error))
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
        let stored = StoredAPIKey(
            key: key,
            secretHash: SecretHash.make(secret),
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
        verified.withLock { _ = $0.removeValue(forKey: key) }
        authorizer?.setSuperUser(Caller.principal(ofKey: key), false)
        return existed
    }

    public func close() throws(BrokerError) {
        try catalog.close()
    }

    // MARK: Authenticating

    /// Checks a key and secret presented from `address`.
    public func authenticate(
        key: String,
        secret: String,
        from address: String = ""
    ) async throws(BrokerError)
        -> AuthenticationResult
    {
        // No key id or secret this store makes has a control character; such credentials (a NUL, say, which a C
        // library would read as the end of the string) are refused before anything is looked up.
        guard !Self.hasControlCharacter(key), !Self.hasControlCharacter(secret) else {
            return failed(key: key, address: address)
        }
        let digest = Array(SHA256.hash(data: Array(secret.utf8)))
        let now = ContinuousClock.now
        let remembered = verified.withLock { verified -> Verified? in
            guard let entry = verified[key], Self.constantTimeEqual(entry.secretDigest, digest) else { return nil }
            return entry
        }
        if let remembered, now - remembered.checkedAt < Self.recheckInterval {
            return .authenticated(principal: Caller.principal(ofKey: key))
        }
        let overLimit = limiter.retryAfter(key: key, address: address, now: now)
        let stored = try await catalog.apiKey(key)
        // The stored key must be exactly the one presented: the principal is the stored key's own.
        guard let stored, stored.key == key else {
            // An unknown key id costs what a wrong secret does, so answer times do not reveal which ids exist.
            _ = SecretHash.verify(secret, against: SecretHash.decoy)
            return failed(key: key, address: address)
        }
        if let remembered, remembered.secretHash == stored.secretHash {
            // The same secret already passed against this hash: the key is valid while its hash is unchanged.
            remember(stored, digest: digest, at: now)
            return .authenticated(principal: stored.principal)
        }
        let matches: Bool
        if SecretHash.isLegacy(stored.secretHash) {
            // bcrypt is the one slow check: never for a caller over the limit.
            if let overLimit { return .throttled(retryAfter: overLimit) }
            let hash = stored.secretHash
            matches = await Self.onHashingThread { Bcrypt.verify(secret, hash: hash) }
            if matches {
                // Upgraded to the fast form; a failure to write it only means bcrypt runs again next time.
                try? await catalog.replaceAPIKeyHash(key, old: hash, new: SecretHash.make(secret))
            }
        } else {
            matches = SecretHash.verify(secret, against: stored.secretHash)
        }
        guard matches else { return failed(key: key, address: address) }
        let current = (try? await catalog.apiKey(key)) ?? stored
        remember(current, digest: digest, at: now)
        return .authenticated(principal: stored.principal)
    }

    /// Counts a failed attempt: rejected, or throttled once over the limit.
    private func failed(key: String, address: String) -> AuthenticationResult {
        if let retryAfter = limiter.recordFailure(key: key, address: address, now: .now) {
            return .throttled(retryAfter: retryAfter)
        }
        return .rejected
    }

    private func remember(_ stored: StoredAPIKey, digest: [UInt8], at now: ContinuousClock.Instant) {
        verified.withLock { verified in
            verified[stored.key] = Verified(secretDigest: digest, secretHash: stored.secretHash, checkedAt: now)
        }
        authorizer?.setSuperUser(stored.principal, stored.superUser)
    }

    // MARK: Helpers

    /// C0 and C1 control characters and DEL.
    static func hasControlCharacter(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
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

    /// Runs slow, blocking work (legacy bcrypt, opening the catalog) on a dedicated thread, off the cooperative pool.
    private static func onHashingThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            hashing.async { continuation.resume(returning: body()) }
        }
    }
}

extension StoredAPIKey {
    var principal: String { Caller.principal(ofKey: key) }
}

/// The stored form of a secret: `sha256:<salt>:<digest>` (hex), the SHA-256 of a random 16-byte salt followed by the
/// secret. Earlier versions stored bcrypt hashes (`$2b$...`), still accepted.
enum SecretHash {
    static func make(_ secret: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return "sha256:\(hex(salt)):\(hex(digest(salt: salt, secret: secret)))"
    }

    static func isLegacy(_ stored: String) -> Bool { stored.hasPrefix("$2") }

    /// Whether `secret` hashes to `stored` (a fast form; false for anything else).
    static func verify(_ secret: String, against stored: String) -> Bool {
        let parts = stored.split(separator: ":")
        guard parts.count == 3, parts[0] == "sha256", let salt = bytes(parts[1]), let expected = bytes(parts[2]) else {
            return false
        }
        return APIKeyStore.constantTimeEqual(digest(salt: salt, secret: secret), expected)
    }

    /// A hash no secret is known for, checked against when a key id is unknown.
    static let decoy = make(UUID().uuidString)

    private static func digest(salt: [UInt8], secret: String) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: salt)
        hasher.update(data: Array(secret.utf8))
        return Array(hasher.finalize())
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func bytes(_ text: Substring) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var result = [UInt8]()
        result.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            result.append(high << 4 | low)
            index += 2
        }
        return result
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

/// Counts failed authentications per key id and per client address, each a token bucket: `burst` failures at once,
/// then one more each `refill`. Past either bucket, attempts are refused until it refills. It remembers a bounded
/// number of buckets (the fullest are forgotten first: a bucket that is full is as good as none).
public final class FailureLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let burst: Int
    let refill: Duration
    let maxBuckets: Int
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(burst: Int = 10, refill: Duration = .seconds(6), maxBuckets: Int = 10_000) {
        self.burst = burst
        self.refill = refill
        self.maxBuckets = maxBuckets
    }

    /// How long until `key` and `address` may fail again; nil when both may now.
    func retryAfter(key: String, address: String, now: ContinuousClock.Instant) -> Duration? {
        buckets.withLock { buckets in
            [bucketName(key: key), bucketName(address: address)].compactMap { name -> Duration? in
                guard let name, var bucket = buckets[name] else { return nil }
                refresh(&bucket, now: now)
                return bucket.tokens >= 1 ? nil : wait(bucket)
            }.max()
        }
    }

    /// Takes a token from both buckets; when either was empty, how long until it has one again.
    func recordFailure(key: String, address: String, now: ContinuousClock.Instant) -> Duration? {
        buckets.withLock { buckets in
            var longest: Duration?
            for name in [bucketName(key: key), bucketName(address: address)].compactMap({ $0 }) {
                var bucket = buckets[name] ?? Bucket(tokens: Double(burst), updated: now)
                refresh(&bucket, now: now)
                if bucket.tokens >= 1 {
                    bucket.tokens -= 1
                } else {
                    longest = max(longest ?? .zero, wait(bucket))
                }
                buckets[name] = bucket
            }
            if buckets.count > maxBuckets { forgetFullest(&buckets, now: now) }
            return longest
        }
    }

    private func bucketName(key: String) -> String? { key.isEmpty ? nil : "key " + key }
    private func bucketName(address: String) -> String? { address.isEmpty ? nil : "address " + address }

    private func refresh(_ bucket: inout Bucket, now: ContinuousClock.Instant) {
        let elapsed = now - bucket.updated
        bucket.tokens = min(Double(burst), bucket.tokens + elapsed / refill)
        bucket.updated = now
    }

    private func wait(_ bucket: Bucket) -> Duration {
        refill * (1 - bucket.tokens)
    }

    private func forgetFullest(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        let ranked = buckets.map { name, bucket -> (String, Double) in
            var bucket = bucket
            refresh(&bucket, now: now)
            return (name, bucket.tokens)
        }.sorted { $0.1 > $1.1 }
        for (name, _) in ranked.prefix(buckets.count - maxBuckets * 3 / 4) { buckets.removeValue(forKey: name) }
    }
}
