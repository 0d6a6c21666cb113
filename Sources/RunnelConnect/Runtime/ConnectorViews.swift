import Foundation
import Logging
import NIOPosix
import RunnelBrokerAPI
import RunnelRecords
import ServiceLifecycle

/// Why a request to the worker failed; the REST API maps each case to its status in one place.

// What the connect API shows of connectors, their status, offsets and config validation.

public struct ConnectorInfo: Sendable {
    public var name: String
    public var config: [String: String]
    public var tasks: [Int]
    public var type: String
}

public struct ConnectorStateInfo: Sendable {
    public var name: String
    public var connector: ConnectorStatus
    public var tasks: [(Int, ConnectorStatus)]
    public var type: String
}

public struct ConnectorOffset: Sendable {
    public var partition: ConnectValue
    public var offset: ConnectValue

    public init(partition: ConnectValue, offset: ConnectValue) {
        self.partition = partition
        self.offset = offset
    }
}

public struct ConfigInfos: Sendable {
    public struct Entry: Sendable {
        public var key: ConfigKey
        public var value: String?
        public var errors: [String]
    }

    public var name: String
    public var groups: [String]
    public var configs: [Entry]
    public var errorCount: Int { configs.reduce(0) { $0 + $1.errors.count } }
}

extension ConfigKey {
    /// Marks a key that no definition declares (shown with `"definition": null`).
    var withoutDefinition: ConfigKey {
        var key = self
        key.orderInGroup = Int.min
        return key
    }

    public var isUndefined: Bool { orderInGroup == Int.min }
}
