import Foundation

/// The transforms of a connector in the order of `transforms`, each with its optional predicate.
struct TransformChain: Sendable {
    struct Step: Sendable {
        var alias: String
        var className: String
        var transform: any Transformation
        var predicate: (any TransformPredicate)?
        var negate: Bool
    }

    let steps: [Step]

    var isEmpty: Bool { steps.isEmpty }

    /// Builds the chain, throwing the first config problem.
    init(config: [String: String], registry: PluginRegistry) throws(ConnectError) {
        let problems = Self.validate(config: config, registry: registry)
        if let first = problems.first(where: { !$0.errors.isEmpty }), let message = first.errors.first {
            throw .config(message)
        }
        var predicates: [String: any TransformPredicate] = [:]
        for alias in ParsedConfig.splitList(config["predicates"] ?? "") {
            guard let plugin = registry.predicate(config["predicates.\(alias).type"] ?? "") else { continue }
            let settings = Self.subset(config, prefix: "predicates.\(alias).")
            predicates[alias] = try plugin.type.init(
                config: ParsedConfig(definition: plugin.type.configDef, values: settings)
            )
        }
        var steps: [Step] = []
        for alias in ParsedConfig.splitList(config["transforms"] ?? "") {
            guard let plugin = registry.transform(config["transforms.\(alias).type"] ?? "") else { continue }
            let settings = Self.subset(config, prefix: "transforms.\(alias).")
            let transform = try plugin.type.init(
                config: ParsedConfig(definition: plugin.type.configDef, values: settings)
            )
            let predicate = settings["predicate"].flatMap { predicates[$0] }
            steps.append(
                Step(
                    alias: alias,
                    className: plugin.className,
                    transform: transform,
                    predicate: predicate,
                    negate: settings["negate"]?.lowercased() == "true"
                )
            )
        }
        self.steps = steps
    }

    static func subset(_ config: [String: String], prefix: String) -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in config where key.hasPrefix(prefix) { result[String(key.dropFirst(prefix.count))] = value }
        return result
    }

    /// Problems of the `transforms.*` and `predicates.*` keys, per key, with the definitions that go with them.
    static func validate(
        config: [String: String],
        registry: PluginRegistry
    ) -> [(key: ConfigKey, value: String?, errors: [String])] {
        var results: [(key: ConfigKey, value: String?, errors: [String])] = []
        let predicateAliases = ParsedConfig.splitList(config["predicates"] ?? "")
        for (kind, aliases) in [
            ("transforms", ParsedConfig.splitList(config["transforms"] ?? "")), ("predicates", predicateAliases),
        ] {
            let group = kind == "transforms" ? "Transforms: " : "Predicates: "
            for alias in aliases {
                let typeKey = "\(kind).\(alias).type"
                let className = config[typeKey]
                var typeErrors: [String] = []
                var definition: ConfigDef?
                if let className {
                    if kind == "transforms" {
                        definition = registry.transform(className)?.type.configDef
                    } else {
                        definition = registry.predicate(className)?.type.configDef
                    }
                    if definition == nil {
                        typeErrors.append(
                            "Invalid value \(className) for configuration \(typeKey): Class \(className) could not be found."
                        )
                    }
                } else {
                    typeErrors.append("Missing required configuration \"\(typeKey)\" which has no default value.")
                }
                results.append(
                    (
                        ConfigKey(
                            typeKey,
                            .class,
                            required: true,
                            importance: .high,
                            group: group + alias,
                            order: 0,
                            width: .long,
                            displayName: "Transformation type for \(alias)",
                            "Class for the '\(alias)' \(kind == "transforms" ? "transformation" : "predicate")."
                        ),
                        className, typeErrors
                    )
                )
                if kind == "transforms" {
                    let predicateKey = "transforms.\(alias).predicate"
                    var predicateErrors: [String] = []
                    if let predicate = config[predicateKey], !predicate.isEmpty, !predicateAliases.contains(predicate) {
                        predicateErrors.append(
                            "Invalid value \(predicate) for configuration \(predicateKey): Predicate alias \(predicate) not found in predicates"
                        )
                    }
                    results.append(
                        (
                            ConfigKey(
                                predicateKey,
                                .string,
                                importance: .medium,
                                group: group + alias,
                                order: 1,
                                displayName: "Predicate",
                                "The alias of a predicate used to determine whether to apply this transformation."
                            ),
                            config[predicateKey], predicateErrors
                        )
                    )
                }
                guard let definition else { continue }
                let settings = subset(config, prefix: "\(kind).\(alias).")
                let errors = definition.validate(settings)
                for key in definition.keys {
                    var shown = key
                    shown.name = "\(kind).\(alias).\(key.name)"
                    shown.group = group + alias
                    // The messages name the key as the connector config spells it.
                    let messages = (errors[key.name] ?? []).map {
                        $0.replacingOccurrences(of: "configuration \(key.name)", with: "configuration \(shown.name)")
                            .replacingOccurrences(
                                of: "configuration \"\(key.name)\"",
                                with: "configuration \"\(shown.name)\""
                            )
                    }
                    results.append((shown, settings[key.name], messages))
                }
                // Problems only an instance sees (e.g. a regex that does not compile).
                if errors.values.allSatisfy(\.isEmpty) {
                    do {
                        if kind == "transforms", let plugin = registry.transform(config[typeKey] ?? "") {
                            _ = try plugin.type.init(config: ParsedConfig(definition: definition, values: settings))
                        } else if let plugin = registry.predicate(config[typeKey] ?? "") {
                            _ = try plugin.type.init(config: ParsedConfig(definition: definition, values: settings))
                        }
                    } catch {
                        if let index = results.lastIndex(where: { $0.key.name == typeKey }) {
                            results[index].errors.append(ConnectError.wrapping(error).message)
                        }
                    }
                }
            }
        }
        return results
    }

    /// The record after every transform (nil: dropped). The error names the transform that failed.
    func apply(_ record: ConnectRecord) throws(TransformFailure) -> ConnectRecord? {
        var current = record
        for step in steps {
            if let predicate = step.predicate, predicate.test(current) == step.negate { continue }
            do {
                guard let next = try step.transform.apply(current) else { return nil }
                current = next
            } catch {
                throw TransformFailure(className: step.className, error: error)
            }
        }
        return current
    }
}

struct TransformFailure: Error {
    var className: String
    var error: ConnectError
}
