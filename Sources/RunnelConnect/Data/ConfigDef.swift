import Foundation

/// Config definitions in Kafka's `ConfigDef` terms: every key a plugin takes, with its type, default, importance,
/// documentation and validator. They feed `GET /connector-plugins/{plugin}/config`, `PUT .../config/validate`, the
/// 400 of an invalid create, and the parsed values a plugin reads.
public struct ConfigKey: Sendable {
    public enum ValueType: String, Sendable {
        case boolean = "BOOLEAN"
        case string = "STRING"
        case int = "INT"
        case short = "SHORT"
        case long = "LONG"
        case double = "DOUBLE"
        case list = "LIST"
        case `class` = "CLASS"
        case password = "PASSWORD"
    }

    public enum Importance: String, Sendable {
        case high = "HIGH"
        case medium = "MEDIUM"
        case low = "LOW"
    }

    public enum Width: String, Sendable {
        case none = "NONE"
        case short = "SHORT"
        case medium = "MEDIUM"
        case long = "LONG"
    }

    /// A validator returns the reason a value is invalid, or nil. It sees the value already checked for its type.
    public typealias Validator = @Sendable (_ value: String) -> String?

    public var name: String
    public var type: ValueType
    /// Required keys have no default.
    public var required: Bool
    public var defaultValue: String?
    public var importance: Importance
    public var documentation: String
    public var group: String?
    public var orderInGroup: Int
    public var width: Width
    public var displayName: String
    public var recommendedValues: [String]
    public var validator: Validator?

    public init(
        _ name: String,
        _ type: ValueType,
        required: Bool = false,
        default defaultValue: String? = nil,
        importance: Importance = .medium,
        group: String? = nil,
        order: Int = -1,
        width: Width = .none,
        displayName: String? = nil,
        recommended: [String] = [],
        validator: Validator? = nil,
        _ documentation: String
    ) {
        self.name = name
        self.type = type
        self.required = required
        self.defaultValue = defaultValue
        self.importance = importance
        self.documentation = documentation
        self.group = group
        self.orderInGroup = order
        self.width = width
        self.displayName = displayName ?? name
        self.recommendedValues = recommended
        self.validator = validator
    }

    /// The reason `value` is not of this key's type, or nil.
    func typeError(_ value: String) -> String? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        switch type {
        case .boolean:
            return ["true", "false"].contains(trimmed.lowercased()) ? nil : "Expected value to be either true or false"
        case .int:
            return Int32(trimmed) == nil ? "Not a number of type INT" : nil
        case .short:
            return Int16(trimmed) == nil ? "Not a number of type SHORT" : nil
        case .long:
            return Int64(trimmed) == nil ? "Not a number of type LONG" : nil
        case .double:
            return Double(trimmed) == nil ? "Not a number of type DOUBLE" : nil
        case .string, .list, .class, .password:
            return nil
        }
    }
}

/// The keys of one plugin (or of the framework), in order.
public struct ConfigDef: Sendable {
    public var keys: [ConfigKey]

    public init(_ keys: [ConfigKey] = []) {
        self.keys = keys
    }

    public func key(_ name: String) -> ConfigKey? { keys.first { $0.name == name } }

    public static func + (lhs: ConfigDef, rhs: ConfigDef) -> ConfigDef {
        var keys = lhs.keys
        for key in rhs.keys where !keys.contains(where: { $0.name == key.name }) { keys.append(key) }
        return ConfigDef(keys)
    }

    /// The errors of each key of this definition for `config` (a key with none maps to []), as Kafka words them.
    public func validate(_ config: [String: String]) -> [String: [String]] {
        var errors: [String: [String]] = [:]
        for key in keys {
            var keyErrors: [String] = []
            if let value = config[key.name] {
                if let problem = key.typeError(value) ?? key.validator?(value) {
                    let shown = key.type == .password ? "[hidden]" : value
                    keyErrors.append("Invalid value \(shown) for configuration \(key.name): \(problem)")
                }
            } else if key.required {
                keyErrors.append("Missing required configuration \"\(key.name)\" which has no default value.")
            }
            errors[key.name] = keyErrors
        }
        return errors
    }

    /// Parses `config`, throwing the first problem as a config error.
    public func parse(_ config: [String: String]) throws(ConnectError) -> ParsedConfig {
        for key in keys {
            if let problems = validate(config)[key.name], let first = problems.first {
                throw .config(first)
            }
        }
        return ParsedConfig(definition: self, values: config)
    }
}

/// A config map read through its definition: typed getters that fall back on the defaults.
public struct ParsedConfig: Sendable {
    public let definition: ConfigDef
    /// Every key as given, including keys the definition does not know.
    public let values: [String: String]

    public init(definition: ConfigDef, values: [String: String]) {
        self.definition = definition
        self.values = values
    }

    public func string(_ name: String) -> String? {
        values[name] ?? definition.key(name)?.defaultValue
    }

    /// A string that is absent or empty reads as nil.
    public func nonEmpty(_ name: String) -> String? {
        guard let value = string(name)?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    public func int(_ name: String) -> Int? {
        string(name).flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    public func int64(_ name: String) -> Int64? {
        string(name).flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
    }

    public func double(_ name: String) -> Double? {
        string(name).flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
    }

    public func bool(_ name: String) -> Bool {
        string(name)?.trimmingCharacters(in: .whitespaces).lowercased() == "true"
    }

    /// A comma-separated list, trimmed, without empty items.
    public func list(_ name: String) -> [String] {
        Self.splitList(string(name) ?? "")
    }

    public static func splitList(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The keys under `prefix`, with the prefix removed.
    public func subset(prefix: String) -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in values where key.hasPrefix(prefix) {
            result[String(key.dropFirst(prefix.count))] = value
        }
        return result
    }
}

/// Validators shared by plugins.
public enum Validators {
    public static func atLeast(_ minimum: Int64) -> ConfigKey.Validator {
        { value in
            guard let number = Int64(value.trimmingCharacters(in: .whitespaces)) else { return nil }
            return number < minimum ? "Value must be at least \(minimum)" : nil
        }
    }

    /// Kafka's `Range.between`: out-of-range values are refused, never clamped.
    public static func between(_ minimum: Int64, _ maximum: Int64) -> ConfigKey.Validator {
        { value in
            guard let number = Int64(value.trimmingCharacters(in: .whitespaces)) else { return nil }
            if number < minimum {
                return "Value must be at least \(minimum) (the range is [\(minimum),...,\(maximum)])"
            }
            if number > maximum {
                return "Value must be no more than \(maximum) (the range is [\(minimum),...,\(maximum)])"
            }
            return nil
        }
    }

    public static func oneOf(_ allowed: [String], caseInsensitive: Bool = true) -> ConfigKey.Validator {
        { value in
            let given = value.trimmingCharacters(in: .whitespaces)
            let matches = allowed.contains { caseInsensitive ? $0.lowercased() == given.lowercased() : $0 == given }
            return matches ? nil : "String must be one of: \(allowed.joined(separator: ", "))"
        }
    }

    public static let nonEmpty: ConfigKey.Validator = { value in
        value.trimmingCharacters(in: .whitespaces).isEmpty ? "String must be non-empty" : nil
    }

    public static let nonEmptyList: ConfigKey.Validator = { value in
        ParsedConfig.splitList(value).isEmpty ? "Empty list" : nil
    }
}
