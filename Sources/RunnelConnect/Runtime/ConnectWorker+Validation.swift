import Foundation
import Logging
import NIOPosix
import RunnelBrokerAPI
import RunnelRecords
import ServiceLifecycle

// Validating a connector config as Kafka Connect does: every key checked, every problem reported.
extension ConnectWorker {
    // MARK: Validation

    /// `PUT /connector-plugins/{plugin}/config/validate`: every key of the framework, the plugin, its transforms and
    /// predicates, with its value and errors.
    public nonisolated func validate(config: [String: String], plugin: ConnectorPlugin) async -> ConfigInfos {
        var infos: [ConfigInfos.Entry] = []
        let all = plugin.connectorConfigDef
        let errors = all.validate(config)
        for key in all.keys {
            infos.append(.init(key: key, value: config[key.name], errors: errors[key.name] ?? []))
        }
        // Sinks read exactly one of topics and topics.regex.
        if plugin.type == .sink {
            let topics = ParsedConfig.splitList(config["topics"] ?? "")
            let regex = config["topics.regex"]?.trimmingCharacters(in: .whitespaces) ?? ""
            let message: String? =
                topics.isEmpty && regex.isEmpty
                ? "Must configure one of topics or topics.regex"
                : (!topics.isEmpty && !regex.isEmpty
                    ? "topics and topics.regex are mutually exclusive options, but both are set." : nil)
            if let message, let index = infos.firstIndex(where: { $0.key.name == "topics" }) {
                infos[index].errors.append(message)
            }
            if let dlq = config["errors.deadletterqueue.topic.name"]?.trimmingCharacters(in: .whitespaces),
                !dlq.isEmpty,
                topics.contains(dlq),
                let index = infos.firstIndex(where: { $0.key.name == "errors.deadletterqueue.topic.name" })
            {
                infos[index].errors.append(
                    "The DLQ topic '\(dlq)' may not be included in the list of topics ('topics=\(topics.joined(separator: ","))') consumed by the connector"
                )
            }
        }
        // Converters must be configurable.
        for (isKey, name) in [(true, "key.converter"), (false, "value.converter")] {
            do {
                _ = try ConnectorConfig.converter(config, isKey: isKey, defaults: configuration.converterDefaults)
            } catch {
                if let index = infos.firstIndex(where: { $0.key.name == name }), infos[index].errors.isEmpty {
                    infos[index].errors.append(error.message)
                }
            }
        }
        let transformResults = TransformChain.validate(config: config, registry: registry)
        for result in transformResults {
            infos.append(.init(key: result.key, value: result.value, errors: result.errors))
        }
        // The files and folders it would use must be ones connectors may use; otherwise the plugin's own checks do
        // not run (they would open those files, and their answers would tell what exists outside the roots).
        let pathProblems = await fileRoots.problems(
            plugin.serverPaths?(config, configuration.dataDirectory) ?? []
        )
        for (key, problems) in pathProblems {
            if let index = infos.firstIndex(where: { $0.key.name == key }) { infos[index].errors += problems }
        }
        // The plugin's own checks across keys.
        if errors.values.allSatisfy(\.isEmpty) && pathProblems.isEmpty {
            for (key, problems) in await plugin.makeConnector().validate(config: config) where !problems.isEmpty {
                if let index = infos.firstIndex(where: { $0.key.name == key }) {
                    infos[index].errors += problems
                } else {
                    infos.append(
                        .init(key: ConfigKey(key, .string, "").withoutDefinition, value: config[key], errors: problems)
                    )
                }
            }
        }
        // Keys nobody defines are listed with a null definition, as Kafka does.
        let known = Set(infos.map(\.key.name))
        for key in config.keys.sorted() where !known.contains(key) {
            infos.append(.init(key: ConfigKey(key, .string, "").withoutDefinition, value: config[key], errors: []))
        }
        var groups = [
            ConnectorConfig.common, ConnectorConfig.transformsGroup, ConnectorConfig.predicatesGroup,
            ConnectorConfig.errorsGroup,
        ]
        for info in infos {
            if let group = info.key.group, !groups.contains(group) { groups.append(group) }
        }
        for index in infos.indices where ConnectorConfig.isSecret(infos[index].key.name, definition: all) {
            if infos[index].value != nil { infos[index].value = "[hidden]" }
        }
        return ConfigInfos(name: config["connector.class"] ?? plugin.className, groups: groups, configs: infos)
    }
}
