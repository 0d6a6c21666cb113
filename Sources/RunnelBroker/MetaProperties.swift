import RunnelBrokerAPI

/// `meta.properties` in the data directory, with Kafka's KRaft keys: `cluster.id`, `node.id`, `version`.
/// Written once when the directory is formatted; a later start checks the node id against it.
struct MetaProperties: Sendable, Hashable {
    static let fileName = "meta.properties"

    var clusterId: String
    var nodeId: Int32
    var version = 1

    /// The file's text, Java properties style.
    var text: String {
        "#\n#Written by runnel\ncluster.id=\(clusterId)\nnode.id=\(nodeId)\nversion=\(version)\n"
    }

    init(clusterId: String, nodeId: Int32) {
        self.clusterId = clusterId
        self.nodeId = nodeId
    }

    init(parsing text: String) throws(BrokerError) {
        let properties: [String: String]
        do {
            properties = try BrokerConfig.parseProperties(text)
        } catch {
            throw BrokerError(.kafkaStorageError, "meta.properties is malformed: \(error.message)")
        }
        guard let clusterId = properties["cluster.id"], !clusterId.isEmpty else {
            throw BrokerError(.kafkaStorageError, "meta.properties has no cluster.id")
        }
        guard let node = properties["node.id"] ?? properties["broker.id"], let nodeId = Int32(node) else {
            throw BrokerError(.kafkaStorageError, "meta.properties has no valid node.id")
        }
        self.clusterId = clusterId
        self.nodeId = nodeId
        self.version = properties["version"].flatMap { Int($0) } ?? 1
    }
}

/// Kafka's `Uuid`: 16 random bytes as 22 characters of URL-safe base64 without padding.
enum KafkaUuid {
    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes: [UInt8] = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        // Kafka never hands out ids that start with '-' (they read as command-line options).
        bytes[0] &= 0x7f
        return base64URL(bytes)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var output = ""
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value: UInt32 = 0
            for byte in chunk { value = (value << 8) | UInt32(byte) }
            value <<= UInt32(8 * (3 - chunk.count))
            let characters = chunk.count + 1
            for position in 0..<characters {
                output.append(alphabet[Int((value >> UInt32(18 - 6 * position)) & 0x3f)])
            }
            index += 3
        }
        return output
    }
}
