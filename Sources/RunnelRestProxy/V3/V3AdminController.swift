import HTTPTypes
import Hummingbird
import NIOCore
import RunnelBrokerAPI
import RunnelHTTP
import RunnelJSON
import RunnelRecords

/// Where a v3 request is: the cluster it names (checked) and the URL prefix for links.
struct V3Scope {
    let clusterId: String
    /// `http://host:port/v3/clusters/<id>`
    let clusterURL: String
    /// `crn:///kafka=<id>`
    var crn: String { "crn:///kafka=\(clusterId)" }

    func resource(kind: String, path: String, crn suffix: String, _ fields: [(String, JSONValue)]) -> JSONValue {
        .object(
            [
                ("kind", .string(kind)),
                ("metadata", ["self": .string(clusterURL + path), "resource_name": .string(crn + suffix)]),
            ] + fields
        )
    }

    func list(kind: String, path: String, _ data: [JSONValue]) -> JSONValue {
        ["kind": .string(kind), "metadata": ["self": .string(clusterURL + path), "next": nil], "data": .array(data)]
    }

    func related(_ path: String) -> JSONValue { ["related": .string(clusterURL + path)] }
}

/// v3 admin: clusters, brokers, configs, topics, partitions, consumer groups and lags (`/v3/clusters/...`).
struct V3AdminController: ProxyController {
    let broker: any Broker
    let configuration: RestProxyConfiguration

    func register<Context: RequestContext>(on routes: RouteTable<Context>) {
        let cluster = "/v3/clusters/{cluster_id}"
        routes.get("/v3/clusters") { request, _ in
            let description = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.describeCluster()
            }
            let scope = V3Scope(
                clusterId: description.clusterId,
                clusterURL: "\(self.baseURL(request))/v3/clusters/\(description.clusterId)"
            )
            return .json(
                [
                    "kind": "KafkaClusterList",
                    "metadata": ["self": .string("\(self.baseURL(request))/v3/clusters"), "next": nil],
                    "data": [Self.clusterJSON(scope, description)],
                ]
            )
        }
        routes.get(cluster) { request, context in
            let scope = try await self.scope(request, context)
            let description = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.describeCluster()
            }
            return .json(Self.clusterJSON(scope, description))
        }

        // MARK: Brokers and their configs
        routes.get(cluster + "/brokers") { request, context in
            let scope = try await self.scope(request, context)
            let description = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.describeCluster()
            }
            return .json(
                scope.list(
                    kind: "KafkaBrokerList",
                    path: "/brokers",
                    description.brokers.map { Self.brokerJSON(scope, $0) }
                )
            )
        }
        routes.get(cluster + "/brokers/-/configs") { request, context in
            let scope = try await self.scope(request, context)
            var data: [JSONValue] = []
            for broker in try await self.brokers() {
                let configs = try await brokerCall { () async throws(BrokerError) in
                    try await self.broker.describeBrokerConfigs(nodeId: broker.nodeId)
                }
                data += configs.map { Self.brokerConfigJSON(scope, broker.nodeId, $0) }
            }
            return .json(scope.list(kind: "KafkaBrokerConfigList", path: "/brokers/-/configs", data))
        }
        routes.get(cluster + "/brokers/{broker_id}") { request, context in
            let scope = try await self.scope(request, context)
            return .json(Self.brokerJSON(scope, try await self.brokerNode(context)))
        }
        routes.get(cluster + "/brokers/{broker_id}/configs") { request, context in
            let scope = try await self.scope(request, context)
            let broker = try await self.brokerNode(context)
            let configs = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.describeBrokerConfigs(nodeId: broker.nodeId)
            }
            return .json(
                scope.list(
                    kind: "KafkaBrokerConfigList",
                    path: "/brokers/\(broker.nodeId)/configs",
                    configs.map { Self.brokerConfigJSON(scope, broker.nodeId, $0) }
                )
            )
        }
        routes.get(cluster + "/brokers/{broker_id}/configs/{name}") { request, context in
            let scope = try await self.scope(request, context)
            let broker = try await self.brokerNode(context)
            let name = try context.requiredParameter("name")
            let configs = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.describeBrokerConfigs(nodeId: broker.nodeId)
            }
            guard let config = configs.first(where: { $0.name == name }) else {
                throw APIError.notFound("Config \(name) cannot be found for broker \(broker.nodeId).")
            }
            return .json(Self.brokerConfigJSON(scope, broker.nodeId, config))
        }
        routes.get(cluster + "/brokers/{broker_id}/partition-replicas") { request, context in
            let scope = try await self.scope(request, context)
            let broker = try await self.brokerNode(context)
            let topics = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.listTopics(includeInternal: true)
            }
            var data: [JSONValue] = []
            for topic in topics {
                for partition in topic.partitions where partition.replicas.contains(broker.nodeId) {
                    data.append(Self.replicaJSON(scope, topic.name, partition, broker.nodeId))
                }
            }
            return .json(
                scope.list(kind: "KafkaReplicaList", path: "/brokers/\(broker.nodeId)/partition-replicas", data)
            )
        }
        // Dynamic cluster-wide broker configs: this server has none (its settings come from its flags and file).
        routes.get(cluster + "/broker-configs") { request, context in
            let scope = try await self.scope(request, context)
            try await brokerCall { () async throws(BrokerError) in
                try await self.broker.authorize(.describeConfigs, on: .cluster)
            }
            return .json(scope.list(kind: "KafkaClusterConfigList", path: "/broker-configs", []))
        }
        routes.get(cluster + "/broker-configs/{name}") { request, context in
            _ = try await self.scope(request, context)
            try await brokerCall { () async throws(BrokerError) in
                try await self.broker.authorize(.describeConfigs, on: .cluster)
            }
            let name = try context.requiredParameter("name")
            throw APIError.notFound("Config \(name) cannot be found: this cluster has no dynamic cluster-wide configs.")
        }

        // MARK: Topics
        routes.get(cluster + "/topics") { request, context in
            let scope = try await self.scope(request, context)
            let topics = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.listTopics(includeInternal: true)
            }
            return .json(scope.list(kind: "KafkaTopicList", path: "/topics", topics.map { Self.topicJSON(scope, $0) }))
        }
        routes.post(cluster + "/topics") { request, context in
            let scope = try await self.scope(request, context)
            let body = try await self.v3Body(request)
            guard let name = body["topic_name"]?.stringValue else {
                throw APIError.payload("topic_name is required (a string)")
            }
            var partitions = try Self.optionalInt(body, "partitions_count").map(Int32.init)
            var replicationFactor = try Self.optionalInt(body, "replication_factor").map(Int16.init)
            if let assignments = body["replicas_assignments"]?.members, !assignments.isEmpty {
                // The assignment fixes both counts.
                partitions = Int32(assignments.count)
                replicationFactor = Int16(assignments.first?.1.arrayValue?.count ?? 1)
            }
            var configs: [String: String] = [:]
            for entry in body["configs"]?.arrayValue ?? [] {
                guard let configName = entry["name"]?.stringValue else {
                    throw APIError.payload("Each config needs a name (a string)")
                }
                guard let value = entry["value"], let text = Self.configValue(value) else {
                    throw APIError.payload("Config \(configName) needs a value")
                }
                configs[configName] = text
            }
            let validateOnly = body["validate_only"]?.boolValue ?? false
            do {
                try TopicNames.validate(name)
            } catch let error as BrokerError {
                throw APIError.payload(error.message)
            }
            let created = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.createTopic(
                    CreateTopicRequest(
                        name: name,
                        partitions: partitions,
                        replicationFactor: replicationFactor,
                        configs: configs,
                        validateOnly: validateOnly
                    )
                )
            }
            let json = Self.topicJSON(scope, created)
            if validateOnly { return .json(json) }
            var headers = HTTPFields()
            headers[.location] = "\(scope.clusterURL)/topics/\(name)"
            return .json(json, status: .created, headers: headers)
        }
        routes.get(cluster + "/topics/-/configs") { request, context in
            let scope = try await self.scope(request, context)
            let topics = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.listTopics(includeInternal: true)
            }
            var data: [JSONValue] = []
            for topic in topics {
                let configs = try await brokerCall { () async throws(BrokerError) in
                    try await self.broker.describeTopicConfigs(topic.name)
                }
                data += configs.map { Self.topicConfigJSON(scope, topic.name, $0) }
            }
            return .json(scope.list(kind: "KafkaTopicConfigList", path: "/topics/-/configs", data))
        }
        routes.get(cluster + "/topics/{topic_name}") { request, context in
            let scope = try await self.scope(request, context)
            return .json(Self.topicJSON(scope, try await self.v3Topic(context)))
        }
        routes.patch(cluster + "/topics/{topic_name}") { request, context in
            let scope = try await self.scope(request, context)
            let topic = try await self.v3Topic(context)
            let body = try await self.v3Body(request)
            guard let count = try Self.optionalInt(body, "partitions_count") else {
                throw APIError.payload("partitions_count is required (a whole number)")
            }
            try await brokerCall { () async throws(BrokerError) in
                try await self.broker.createPartitions(topic: topic.name, totalCount: Int32(count), validateOnly: false)
            }
            return .json(Self.topicJSON(scope, try await self.v3Topic(context)))
        }
        routes.delete(cluster + "/topics/{topic_name}") { request, context in
            _ = try await self.scope(request, context)
            let topic = try await self.v3Topic(context)
            try await brokerCall { () async throws(BrokerError) in try await self.broker.deleteTopic(topic.name) }
            return .noContent()
        }

        // MARK: Topic configs
        routes.get(cluster + "/topics/{topic_name}/configs") { request, context in
            let scope = try await self.scope(request, context)
            let topic = try await self.v3Topic(context)
            let configs = try await brokerCall { () async throws(BrokerError) in
                try await self.broker.describeTopicConfigs(topic.name)
            }
            return .json(
                scope.list(
                    kind: "KafkaTopicConfigList",
                    path: "/topics/\(topic.name)/configs",
                    configs.map { Self.topicConfigJSON(scope, topic.name, $0) }
                )
            )
        }
        routes.post(cluster + "/topics/{topic_name}/configs:alter") { request, context in
            _ = try await self.scope(request, context)
            let topic = try await self.v3Topic(context)
            let body = try await self.v3Body(request)
            guard let entries = body["data"]?.arrayValue else {
                throw APIError.payload("data is required: a list of {\"name\", \"value\", \"operation\"}")
            }
            var changes: [ConfigChange] = []
            for entry in entries {
                guard let name = entry["name"]?.stringValue else { throw APIError.payload("Each config needs a name") }
                switch entry["operation"]?.stringValue?.uppercased() ?? "SET" {
                case "SET":
                    guard let value = entry["value"], let text = Self.configValue(value) else {
                        throw APIError.payload("Config \(name) needs a value to SET")
                    }
                    changes.append(.set(name, text))
                case "DELETE":
                    changes.append(.delete(name))
                case let other:
                    throw APIError.payload("Unknown operation \(other): use SET or DELETE")
                }
            }
            let validateOnly = body["validate_only"]?.boolValue ?? false
            try await brokerCall { () async throws(BrokerError) in
                try await self.broker.alterTopicConfigs(topic.name, changes, validateOnly: validateOnly)
            }
            return .noContent()
        }
        routes.get(cluster + "/topics/{topic_name}/configs/{name}") { request, context in
            let scope = try await self.scope(request, context)
            let topic = try await self.v3Topic(context)
            return .json(Self.topicConfigJSON(scope, topic.name, try await self.topicConfig(topic.name, context)))
        }
        routes.put(cluster + "/topics/{topic_name}/configs/{name}") { request, context in
            _ = try await self.scope(request, context)
            let topic = try await self.v3Topic(context)
            let name = try context.requiredParameter("name")
            let body = try await self.v3Body(request)
            guard let value = body["value"], let text = Self.configValue(value) else {
                throw APIError.payload("value is required")
            }
            try await brokerCall { () async throws(BrokerError) in
                try await self.broker.alterTopicConfigs(topic.name, [.set(name, text)], validateOnly: false)
            }
            return .noContent()
        }
        routes.delete(cluster + "/topics/{topic_name}/configs/{name}") { request, context in
            _ = try await self.scope(request, context)
            let topic = try await self.v3Topic(context)
            let name = try context.requiredParameter("name")
            _ = try await self.topicConfig(topic.name, context)
            try await brokerCall { () async throws(BrokerError) in
                try await self.broker.alterTopicConfigs(topic.name, [.delete(name)], validateOnly: false)
            }
            return .noContent()
        }

        // MARK: Partitions and replicas
        routes.get(cluster + "/topics/{topic_name}/partitions") { request, context in
            let scope = try await self.scope(request, context)
            let topic = try await self.v3Topic(context)
            return .json(
                scope.list(
                    kind: "KafkaPartitionList",
                    path: "/topics/\(topic.name)/partitions",
                    topic.partitions.map { Self.partitionJSON(scope, topic.name, $0) }
                )
            )
        }
        routes.get(cluster + "/topics/{topic_name}/partitions/{partition_id}") { request, context in
            let scope = try await self.scope(request, context)
            let (topic, partition) = try await self.v3Partition(request, context)
            return .json(Self.partitionJSON(scope, topic.name, partition))
        }
        routes.get(cluster + "/topics/{topic_name}/partitions/{partition_id}/replicas") { request, context in
            let scope = try await self.scope(request, context)
            let (topic, partition) = try await self.v3Partition(request, context)
            return .json(
                scope.list(
                    kind: "KafkaReplicaList",
                    path: "/topics/\(topic.name)/partitions/\(partition.partition)/replicas",
                    partition.replicas.map { Self.replicaJSON(scope, topic.name, partition, $0) }
                )
            )
        }
        routes.get(cluster + "/topics/{topic_name}/partitions/{partition_id}/replicas/{broker_id}") {
            request,
            context in
            let scope = try await self.scope(request, context)
            let (topic, partition) = try await self.v3Partition(request, context)
            guard let text = context.parameters.get("broker_id"), let id = Int32(text), partition.replicas.contains(id)
            else { throw APIError.notFound("Replica not found.") }
            return .json(Self.replicaJSON(scope, topic.name, partition, id))
        }

        // Reassignments move replicas between brokers; with one broker there are never any in progress.
        routes.get(cluster + "/topics/-/partitions/-/reassignment") { request, context in
            let scope = try await self.scope(request, context)
            return .json(scope.list(kind: "KafkaReassignmentList", path: "/topics/-/partitions/-/reassignment", []))
        }
        routes.get(cluster + "/topics/{topic_name}/partitions/-/reassignment") { request, context in
            let scope = try await self.scope(request, context)
            let topic = try await self.v3Topic(context)
            return .json(
                scope.list(kind: "KafkaReassignmentList", path: "/topics/\(topic.name)/partitions/-/reassignment", [])
            )
        }
        routes.get(cluster + "/topics/{topic_name}/partitions/{partition_id}/reassignment") { request, context in
            _ = try await self.scope(request, context)
            let (topic, partition) = try await self.v3Partition(request, context)
            throw APIError.notFound(
                "There is no reassignment in progress for partition \(partition.partition) of \(topic.name)."
            )
        }

        // MARK: Consumer groups
        routes.get(cluster + "/consumer-groups") { request, context in
            let scope = try await self.scope(request, context)
            let groups = try await brokerCall { () async throws(BrokerError) in try await self.broker.listGroups() }
            var data: [JSONValue] = []
            for group in groups.sorted(by: { $0.groupId < $1.groupId }) {
                let description = try await brokerCall { () async throws(BrokerError) in
                    try await self.broker.describeGroup(group.groupId)
                }
                data.append(Self.groupJSON(scope, description))
            }
            return .json(scope.list(kind: "KafkaConsumerGroupList", path: "/consumer-groups", data))
        }
        routes.get(cluster + "/consumer-groups/{consumer_group_id}") { request, context in
            let scope = try await self.scope(request, context)
            return .json(Self.groupJSON(scope, try await self.group(context)))
        }
        routes.get(cluster + "/consumer-groups/{consumer_group_id}/consumers") { request, context in
            let scope = try await self.scope(request, context)
            let group = try await self.group(context)
            return .json(
                scope.list(
                    kind: "KafkaConsumerList",
                    path: "/consumer-groups/\(group.groupId)/consumers",
                    group.members.map { Self.consumerJSON(scope, group.groupId, $0) }
                )
            )
        }
        routes.get(cluster + "/consumer-groups/{consumer_group_id}/consumers/{consumer_id}") { request, context in
            let scope = try await self.scope(request, context)
            let (group, member) = try await self.member(context)
            return .json(Self.consumerJSON(scope, group.groupId, member))
        }
        routes.get(cluster + "/consumer-groups/{consumer_group_id}/consumers/{consumer_id}/assignments") {
            request,
            context in
            let scope = try await self.scope(request, context)
            let (group, member) = try await self.member(context)
            return .json(
                scope.list(
                    kind: "KafkaConsumerAssignmentList",
                    path: "/consumer-groups/\(group.groupId)/consumers/\(member.memberId)/assignments",
                    member.assignedPartitions.map { Self.assignmentJSON(scope, group.groupId, member.memberId, $0) }
                )
            )
        }
        routes.get(
            cluster
                + "/consumer-groups/{consumer_group_id}/consumers/{consumer_id}/assignments/{topic_name}/partitions/{partition_id}"
        ) { request, context in
            let scope = try await self.scope(request, context)
            let (group, member) = try await self.member(context)
            let topic = try context.requiredParameter("topic_name")
            let partition = try request.partitionParameter(context)
            guard
                let assigned = member.assignedPartitions.first(where: { $0.topic == topic && $0.partition == partition }
                )
            else {
                throw APIError.notFound(
                    "Consumer \(member.memberId) is not assigned partition \(partition) of \(topic)."
                )
            }
            return .json(Self.assignmentJSON(scope, group.groupId, member.memberId, assigned))
        }
        routes.get(cluster + "/consumer-groups/{consumer_group_id}/lags") { request, context in
            let scope = try await self.scope(request, context)
            let (groupId, lags) = try await self.lags(context)
            return .json(
                scope.list(
                    kind: "KafkaConsumerLagList",
                    path: "/consumer-groups/\(groupId)/lags",
                    lags.map { Self.lagJSON(scope, groupId, $0) }
                )
            )
        }
        routes.get(cluster + "/consumer-groups/{consumer_group_id}/lags/{topic_name}/partitions/{partition_id}") {
            request,
            context in
            let scope = try await self.scope(request, context)
            let (groupId, lags) = try await self.lags(context)
            let topic = try context.requiredParameter("topic_name")
            let partition = try request.partitionParameter(context)
            guard
                let lag = lags.first(where: {
                    $0.topicPartition.topic == topic && $0.topicPartition.partition == partition
                })
            else { throw APIError.notFound("Consumer group offsets could not be found.") }
            return .json(Self.lagJSON(scope, groupId, lag))
        }
        routes.get(cluster + "/consumer-groups/{consumer_group_id}/lag-summary") { request, context in
            let scope = try await self.scope(request, context)
            let (groupId, lags) = try await self.lags(context)
            let withLag = lags.filter { $0.lag != nil }
            guard let max = withLag.max(by: { ($0.lag ?? 0, $1.topicPartition) < ($1.lag ?? 0, $0.topicPartition) })
            else {
                throw APIError.notFound("Consumer group offsets could not be found.")
            }
            let total = withLag.reduce(Int64(0)) { $0 + ($1.lag ?? 0) }
            let memberId = max.memberId ?? ""
            return .json(
                scope.resource(
                    kind: "KafkaConsumerGroupLagSummary",
                    path: "/consumer-groups/\(groupId)/lag-summary",
                    crn: "/consumer-group=\(groupId)/lag-summary",
                    [
                        ("cluster_id", .string(scope.clusterId)),
                        ("consumer_group_id", .string(groupId)),
                        ("max_lag_consumer_id", .string(memberId)),
                        ("max_lag_instance_id", nil),
                        ("max_lag_client_id", .string(max.clientId ?? "")),
                        ("max_lag_topic_name", .string(max.topicPartition.topic)),
                        ("max_lag_partition_id", .int(max.topicPartition.partition)),
                        ("max_lag", .int(max.lag ?? 0)),
                        ("total_lag", .int(total)),
                        ("max_lag_consumer", scope.related("/consumer-groups/\(groupId)/consumers/\(memberId)")),
                        (
                            "max_lag_partition",
                            scope.related(
                                "/topics/\(max.topicPartition.topic)/partitions/\(max.topicPartition.partition)"
                            )
                        ),
                    ]
                )
            )
        }
    }
}

extension ProxyController {

    // MARK: Lookups

    /// The cluster a v3 path names; 404 when it is not this one.
    func scope(_ request: Request, _ context: some RequestContext) async throws -> V3Scope {
        let id = try context.requiredParameter("cluster_id")
        let description = try await brokerCall { () async throws(BrokerError) in try await broker.describeCluster() }
        guard description.clusterId == id else { throw APIError.clusterNotFound(id) }
        return V3Scope(clusterId: id, clusterURL: "\(self.baseURL(request))/v3/clusters/\(id)")
    }

    fileprivate func brokers() async throws -> [BrokerNode] {
        try await brokerCall { () async throws(BrokerError) in try await broker.describeCluster() }.brokers
    }

    fileprivate func brokerNode(_ context: some RequestContext) async throws -> BrokerNode {
        let text = try context.requiredParameter("broker_id")
        guard let id = Int32(text), let node = try await brokers().first(where: { $0.nodeId == id }) else {
            throw APIError.notFound("Broker \(text) cannot be found.")
        }
        return node
    }

    /// A v3 topic: 404 with Kafka's error (40403) when it does not exist.
    func v3Topic(_ context: some RequestContext) async throws -> TopicDescription {
        let name = try context.requiredParameter("topic_name")
        do {
            return try await broker.describeTopic(name)
        } catch  where error.code == .invalidTopic {
            throw APIError(.notFound, 40403, "This server does not host this topic-partition.")
        } catch {
            throw APIError(error)
        }
    }

    func v3Partition(
        _ request: Request,
        _ context: some RequestContext
    ) async throws -> (TopicDescription, PartitionDescription) {
        let topic = try await v3Topic(context)
        let index = try request.partitionParameter(context)
        guard let partition = topic.partitions.first(where: { $0.partition == index }) else {
            throw APIError.partitionNotFound()
        }
        return (topic, partition)
    }

    fileprivate func topicConfig(_ topic: String, _ context: some RequestContext) async throws -> ConfigEntry {
        let name = try context.requiredParameter("name")
        let configs = try await brokerCall { () async throws(BrokerError) in
            try await broker.describeTopicConfigs(topic)
        }
        guard let config = configs.first(where: { $0.name == name }) else {
            throw APIError.notFound("Config \(name) cannot be found for topic \(topic).")
        }
        return config
    }

    fileprivate func group(_ context: some RequestContext) async throws -> GroupDescription {
        let id = try context.requiredParameter("consumer_group_id")
        let description = try await brokerCall { () async throws(BrokerError) in try await broker.describeGroup(id) }
        guard description.state != .dead else {
            throw APIError.notFound("Consumer Group \(id) could not be found.")
        }
        return description
    }

    fileprivate func member(_ context: some RequestContext) async throws -> (GroupDescription, GroupMemberDescription) {
        let group = try await group(context)
        let id = try context.requiredParameter("consumer_id")
        guard let member = group.members.first(where: { $0.memberId == id }) else {
            throw APIError.notFound("Consumer \(id) could not be found in group \(group.groupId).")
        }
        return (group, member)
    }

    fileprivate func lags(_ context: some RequestContext) async throws -> (String, [PartitionLag]) {
        let id = try context.requiredParameter("consumer_group_id")
        let description = try await brokerCall { () async throws(BrokerError) in try await broker.describeGroup(id) }
        let lags = try await brokerCall { () async throws(BrokerError) in try await broker.groupLag(id) }
        if description.state == .dead && lags.isEmpty {
            throw APIError.notFound("Consumer Group \(id) could not be found.")
        }
        return (id, lags.sorted { $0.topicPartition < $1.topicPartition })
    }

    /// The v3 request body, which must be a JSON object; 42206 when it is empty.
    func v3Body(_ request: Request) async throws -> JSONValue {
        guard let body = try await request.jsonBody(limit: configuration.maxRequestBytes) else {
            throw APIError.payload("Request body is empty. Data is required.")
        }
        guard body.members != nil else { throw APIError.payload("The request body must be a JSON object") }
        return body
    }

    fileprivate static func optionalInt(_ body: JSONValue, _ field: String) throws -> Int? {
        guard let value = body[field], !value.isNull else { return nil }
        guard let number = value.int64Value, let result = Int(exactly: number), (0...Int(Int32.max)).contains(result)
        else { throw APIError.payload("\(field) must be a whole number, not negative") }
        if field == "replication_factor" && result > Int(Int16.max) {
            throw APIError.payload("\(field) is too large")
        }
        return result
    }

    /// A config value as text: Confluent takes strings, but numbers and booleans mean what they say.
    fileprivate static func configValue(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .number(let text): text
        case .bool(let flag): String(flag)
        default: nil
        }
    }

    // MARK: JSON

    static func clusterJSON(_ scope: V3Scope, _ description: ClusterDescription) -> JSONValue {
        scope.resource(
            kind: "KafkaCluster",
            path: "",
            crn: "",
            [
                ("cluster_id", .string(description.clusterId)),
                ("controller", scope.related("/brokers/\(description.controllerId)")),
                ("acls", scope.related("/acls")),
                ("brokers", scope.related("/brokers")),
                ("broker_configs", scope.related("/broker-configs")),
                ("consumer_groups", scope.related("/consumer-groups")),
                ("topics", scope.related("/topics")),
                ("partition_reassignments", scope.related("/topics/-/partitions/-/reassignment")),
            ]
        )
    }

    static func brokerJSON(_ scope: V3Scope, _ broker: BrokerNode) -> JSONValue {
        scope.resource(
            kind: "KafkaBroker",
            path: "/brokers/\(broker.nodeId)",
            crn: "/broker=\(broker.nodeId)",
            [
                ("cluster_id", .string(scope.clusterId)),
                ("broker_id", .int(broker.nodeId)),
                ("host", .string(broker.host)),
                ("port", .int(broker.port)),
                ("rack", .optionalString(broker.rack)),
                ("configs", scope.related("/brokers/\(broker.nodeId)/configs")),
                ("partition_replicas", scope.related("/brokers/\(broker.nodeId)/partition-replicas")),
            ]
        )
    }

    static func configFields(_ config: ConfigEntry) -> [(String, JSONValue)] {
        [
            ("name", .string(config.name)),
            ("value", config.isSensitive ? nil : .optionalString(config.value)),
            ("is_default", .bool(config.isDefault)),
            ("is_read_only", .bool(config.isReadOnly)),
            ("is_sensitive", .bool(config.isSensitive)),
            ("source", .string(config.source.rawValue)),
            (
                "synonyms",
                .array(
                    config.synonyms.map { synonym in
                        [
                            "name": .string(synonym.name),
                            "value": config.isSensitive ? nil : .optionalString(synonym.value),
                            "source": .string(synonym.source.rawValue),
                        ]
                    }
                )
            ),
        ]
    }

    static func brokerConfigJSON(_ scope: V3Scope, _ brokerId: Int32, _ config: ConfigEntry) -> JSONValue {
        scope.resource(
            kind: "KafkaBrokerConfig",
            path: "/brokers/\(brokerId)/configs/\(config.name)",
            crn: "/broker=\(brokerId)/config=\(config.name)",
            [("cluster_id", .string(scope.clusterId)), ("broker_id", .int(brokerId))] + configFields(config)
        )
    }

    static func topicConfigJSON(_ scope: V3Scope, _ topic: String, _ config: ConfigEntry) -> JSONValue {
        scope.resource(
            kind: "KafkaTopicConfig",
            path: "/topics/\(topic)/configs/\(config.name)",
            crn: "/topic=\(topic)/config=\(config.name)",
            [("cluster_id", .string(scope.clusterId)), ("topic_name", .string(topic))] + configFields(config)
        )
    }

    static func topicJSON(_ scope: V3Scope, _ topic: TopicDescription) -> JSONValue {
        scope.resource(
            kind: "KafkaTopic",
            path: "/topics/\(topic.name)",
            crn: "/topic=\(topic.name)",
            [
                ("cluster_id", .string(scope.clusterId)),
                ("topic_name", .string(topic.name)),
                ("is_internal", .bool(topic.isInternal)),
                ("replication_factor", .int(topic.replicationFactor)),
                ("partitions_count", .int(topic.partitions.count)),
                ("partitions", scope.related("/topics/\(topic.name)/partitions")),
                ("configs", scope.related("/topics/\(topic.name)/configs")),
                ("partition_reassignments", scope.related("/topics/\(topic.name)/partitions/-/reassignment")),
            ]
        )
    }

    static func partitionJSON(_ scope: V3Scope, _ topic: String, _ partition: PartitionDescription) -> JSONValue {
        let path = "/topics/\(topic)/partitions/\(partition.partition)"
        return scope.resource(
            kind: "KafkaPartition",
            path: path,
            crn: "/topic=\(topic)/partition=\(partition.partition)",
            [
                ("cluster_id", .string(scope.clusterId)),
                ("topic_name", .string(topic)),
                ("partition_id", .int(partition.partition)),
                ("leader", scope.related("\(path)/replicas/\(partition.leader)")),
                ("replicas", scope.related("\(path)/replicas")),
                ("reassignment", scope.related("\(path)/reassignment")),
            ]
        )
    }

    static func replicaJSON(
        _ scope: V3Scope,
        _ topic: String,
        _ partition: PartitionDescription,
        _ brokerId: Int32
    ) -> JSONValue {
        scope.resource(
            kind: "KafkaReplica",
            path: "/topics/\(topic)/partitions/\(partition.partition)/replicas/\(brokerId)",
            crn: "/topic=\(topic)/partition=\(partition.partition)/replica=\(brokerId)",
            [
                ("cluster_id", .string(scope.clusterId)),
                ("topic_name", .string(topic)),
                ("partition_id", .int(partition.partition)),
                ("broker_id", .int(brokerId)),
                ("is_leader", .bool(partition.leader == brokerId)),
                ("is_in_sync", .bool(partition.inSyncReplicas.contains(brokerId))),
                ("broker", scope.related("/brokers/\(brokerId)")),
            ]
        )
    }

    static func groupState(_ state: GroupState) -> String {
        switch state {
        case .empty: "EMPTY"
        case .preparingRebalance: "PREPARING_REBALANCE"
        case .completingRebalance: "COMPLETING_REBALANCE"
        case .stable: "STABLE"
        case .dead: "DEAD"
        }
    }

    static func groupJSON(_ scope: V3Scope, _ group: GroupDescription) -> JSONValue {
        let id = group.groupId
        return scope.resource(
            kind: "KafkaConsumerGroup",
            path: "/consumer-groups/\(id)",
            crn: "/consumer-group=\(id)",
            [
                ("cluster_id", .string(scope.clusterId)),
                ("consumer_group_id", .string(id)),
                ("is_simple", .bool(group.protocolType.isEmpty)),
                ("partition_assignor", .string(group.protocolName)),
                ("state", .string(groupState(group.state))),
                ("type", "CLASSIC"),
                ("is_mixed_consumer_group", false),
                ("coordinator", scope.related("/brokers/\(group.coordinator)")),
                ("consumers", scope.related("/consumer-groups/\(id)/consumers")),
                ("lag_summary", scope.related("/consumer-groups/\(id)/lag-summary")),
            ]
        )
    }

    static func consumerJSON(_ scope: V3Scope, _ groupId: String, _ member: GroupMemberDescription) -> JSONValue {
        scope.resource(
            kind: "KafkaConsumer",
            path: "/consumer-groups/\(groupId)/consumers/\(member.memberId)",
            crn: "/consumer-group=\(groupId)/consumer=\(member.memberId)",
            [
                ("cluster_id", .string(scope.clusterId)),
                ("consumer_group_id", .string(groupId)),
                ("consumer_id", .string(member.memberId)),
                ("instance_id", nil),
                ("client_id", .string(member.clientId)),
                ("assignments", scope.related("/consumer-groups/\(groupId)/consumers/\(member.memberId)/assignments")),
            ]
        )
    }

    static func assignmentJSON(
        _ scope: V3Scope,
        _ groupId: String,
        _ memberId: String,
        _ tp: TopicPartition
    ) -> JSONValue {
        scope.resource(
            kind: "KafkaConsumerAssignment",
            path:
                "/consumer-groups/\(groupId)/consumers/\(memberId)/assignments/\(tp.topic)/partitions/\(tp.partition)",
            crn: "/consumer-group=\(groupId)/consumer=\(memberId)/assignment=\(tp.topic)/partition=\(tp.partition)",
            [
                ("cluster_id", .string(scope.clusterId)),
                ("consumer_group_id", .string(groupId)),
                ("consumer_id", .string(memberId)),
                ("topic_name", .string(tp.topic)),
                ("partition_id", .int(tp.partition)),
                ("partition", scope.related("/topics/\(tp.topic)/partitions/\(tp.partition)")),
                ("lag", scope.related("/consumer-groups/\(groupId)/lags/\(tp.topic)/partitions/\(tp.partition)")),
            ]
        )
    }

    static func lagJSON(_ scope: V3Scope, _ groupId: String, _ lag: PartitionLag) -> JSONValue {
        let tp = lag.topicPartition
        return scope.resource(
            kind: "KafkaConsumerLag",
            path: "/consumer-groups/\(groupId)/lags/\(tp.topic)/partitions/\(tp.partition)",
            crn: "/consumer-group=\(groupId)/lag=\(tp.topic)/partition=\(tp.partition)",
            [
                ("cluster_id", .string(scope.clusterId)),
                ("consumer_group_id", .string(groupId)),
                ("topic_name", .string(tp.topic)),
                ("partition_id", .int(tp.partition)),
                ("current_offset", .optionalInt(lag.committedOffset)),
                ("log_end_offset", .int(lag.logEndOffset)),
                ("lag", .optionalInt(lag.lag)),
                ("consumer_id", .string(lag.memberId ?? "")),
                ("instance_id", nil),
                ("client_id", .string(lag.clientId ?? "")),
            ]
        )
    }
}
