import Foundation

/// Every plugin this worker can run: connectors (given at start), and the built-in transforms, predicates and
/// converters. Looked up by full class name or alias.
public struct PluginRegistry: Sendable {
    public let connectors: [ConnectorPlugin]
    public let transforms: [TransformPlugin]
    public let predicates: [PredicatePlugin]

    public init(
        connectors: [ConnectorPlugin],
        transforms: [TransformPlugin] = BuiltinTransforms.transforms,
        predicates: [PredicatePlugin] = BuiltinTransforms.predicates
    ) {
        self.connectors = connectors
        self.transforms = transforms
        self.predicates = predicates
    }

    public func connector(_ name: String) -> ConnectorPlugin? {
        let name = name.trimmingCharacters(in: .whitespaces)
        return connectors.first { $0.answers(to: name) }
    }

    /// A transform by its class name or its simple name (`InsertField$Value`).
    public func transform(_ name: String) -> TransformPlugin? {
        transforms.first { $0.className == name || $0.className.hasSuffix("." + name) }
    }

    public func predicate(_ name: String) -> PredicatePlugin? {
        predicates.first { $0.className == name || $0.className.hasSuffix("." + name) }
    }
}
