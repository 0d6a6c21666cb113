import ArgumentParser
import Foundation
import NIOHTTP1
import RunnelBroker
import RunnelBrokerAPI
import RunnelJSON

struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-key",
        abstract: "Create, list and delete API keys (HTTP Basic user and password for every API).",
        discussion: """
            With --data-dir the command works on a data directory directly, without a server: that is how the first \
            key is made before `runnel serve` starts with authentication. Otherwise it asks the server at --url, \
            authenticating with --api-key/--api-secret (RUNNEL_API_KEY/RUNNEL_API_SECRET).

            Examples:
              runnel api-key create --data-dir ./runnel-data --super-user --description admin
              runnel api-key create --description "orders service" -o json
              runnel api-key list
              runnel api-key delete ABCDEFGH12345678
            """,
        subcommands: [Create.self, List.self, Delete.self]
    )

    /// Where the keys are: a data directory, or a server.
    struct Target: ParsableArguments {
        @Option(
            name: .long,
            help: ArgumentHelp("Work on this data directory instead of a server.", valueName: "directory")
        )
        var dataDir: String?

        @OptionGroup var client: ClientOptions

        /// Runs `body` on the data directory's keys; nil when the command talks to a server instead.
        func offline<T>(_ body: (APIKeyStore) async throws -> T) async throws -> T? {
            guard let dataDir else { return nil }
            do {
                let store = try await APIKeyStore.open(dataDirectory: dataDir)
                defer { try? store.close() }
                return try await body(store)
            } catch let error as BrokerError {
                throw ClientError(error.message)
            }
        }
    }

    static let columns = ["KEY", "PRINCIPAL", "SUPER USER", "DESCRIPTION", "CREATED"]

    static func row(_ key: JSONValue) -> [JSONValue] {
        ["key", "principal", "super_user", "description", "created_at"].map { key[$0] ?? .null }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API key and print it with its secret. The secret is shown this once only."
        )
        @Option(name: .long, help: "What the key is for.") var description = ""
        @Flag(name: .long, help: "The key may do anything, whatever the ACLs say.") var superUser = false
        @OptionGroup var target: Target

        func run() async throws {
            let created: JSONValue
            if let offline = try await target.offline({ store in
                try await store.create(description: description, superUser: superUser)
            }) {
                created = offline.apiKey.json(secret: offline.secret)
            } else {
                let api = try target.client.api()
                created = try await api.call(
                    .POST,
                    api.proxy + "/security/api-keys",
                    json: ["description": .string(description), "super_user": .bool(superUser)]
                )
            }
            switch target.client.output {
            case .json:
                Output.printJSON(created)
            case .table:
                Output.printTable(
                    ["FIELD", "VALUE"],
                    [
                        ["API key", created["key"]?.cell ?? ""], ["Secret", created["secret"]?.cell ?? ""],
                        ["Principal", created["principal"]?.cell ?? ""],
                        ["Super user", created["super_user"]?.cell ?? ""],
                        ["Description", created["description"]?.cell ?? ""],
                    ]
                )
                Output.note("Save the secret now: it cannot be shown again.")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List API keys (never their secrets).")
        @OptionGroup var target: Target

        func run() async throws {
            let keys: [JSONValue]
            if let offline = try await target.offline({ try await $0.list() }) {
                keys = offline.map { $0.json() }
            } else {
                let api = try target.client.api()
                keys = try await api.call(.GET, api.proxy + "/security/api-keys")["data"]?.arrayValue ?? []
            }
            switch target.client.output {
            case .json: Output.printJSON(.array(keys))
            case .table: Output.printRows(APIKeyCommand.columns, keys.map(APIKeyCommand.row), as: .table)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete an API key: requests with it are refused from then on (within 30 s for --data-dir)."
        )
        @Argument(help: "The key.") var key: String
        @OptionGroup var target: Target

        func run() async throws {
            if let existed = try await target.offline({ try await $0.delete(key) }) {
                guard existed else { throw ClientError("API key \(key) does not exist") }
            } else {
                let api = try target.client.api()
                try await api.call(.DELETE, api.proxy + "/security/api-keys/" + RunnelAPI.segment(key))
            }
            Output.note("Deleted API key \(key)")
        }
    }
}

struct ACLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acl",
        abstract: "Create, list and delete ACLs (Kafka's model, through the v3 ACL API).",
        discussion: """
            A principal is User:<api-key> (User:* for every key). Resources are a topic, a group, a connector or the \
            cluster, named literally (or * for all) or by prefix (--prefixed). DENY wins over ALLOW; super users skip \
            ACLs.

            Examples:
              runnel acl create --principal User:ABCD1234ABCD1234 --operation write --topic orders
              runnel acl create --principal User:ABCD1234ABCD1234 --operation read --topic orders- --prefixed
              runnel acl create --principal User:ABCD1234ABCD1234 --operation read --group billing
              runnel acl create --principal User:ABCD1234ABCD1234 --operation alter --connector orders- --prefixed
              runnel acl create --principal 'User:*' --operation describe --cluster
              runnel acl list --principal User:ABCD1234ABCD1234
              runnel acl delete --principal User:ABCD1234ABCD1234 --topic orders
            """,
        subcommands: [Create.self, List.self, Delete.self]
    )

    /// The resource and who: shared by create, list and delete.
    struct Selection: ParsableArguments {
        @Option(name: .long, help: "A topic name (or prefix with --prefixed, or * for every topic).")
        var topic: String?
        @Option(name: .long, help: "A consumer group id (or prefix with --prefixed, or * for every group).")
        var group: String?
        @Option(
            name: .long,
            help:
                "A connector name (or prefix with --prefixed, or * for every connector): DESCRIBE to see it, CREATE, ALTER to configure, pause, restart or change its offsets, DELETE."
        )
        var connector: String?
        @Flag(name: .long, help: "The cluster itself (creating topics, managing ACLs and keys).")
        var cluster = false
        @Flag(name: .long, help: "The name is a prefix.") var prefixed = false
        @Option(name: .long, help: "User:<api-key>, or User:* for every key.") var principal: String?
        @Option(name: .long, help: "The client address the ACL is for (* for any).") var host: String?
        @Option(
            name: .long,
            parsing: .singleValue,
            help: "READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, ALTER_CONFIGS, DESCRIBE_CONFIGS or ALL (repeatable)."
        )
        var operation: [String] = []
        @Flag(name: .long, help: "A DENY rule (the default is ALLOW for create, either for list and delete).")
        var deny = false
        @Flag(name: .long, help: "Only ALLOW rules (list and delete).") var allow = false

        func validate() throws {
            if [topic != nil, group != nil, connector != nil, cluster].filter({ $0 }).count > 1 {
                throw ValidationError("Give at most one of --topic, --group, --connector and --cluster")
            }
            if deny && allow { throw ValidationError("Give --deny or --allow, not both") }
            for name in operation where AclOperation(rawValue: Self.upper(name)) == nil {
                throw ValidationError(
                    "Unknown operation \(name): use \(AclOperation.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
        }

        static func upper(_ text: String) -> String { text.uppercased().replacingOccurrences(of: "-", with: "_") }

        var resource: (type: String, name: String?)? {
            if let topic { return ("TOPIC", topic) }
            if let group { return ("GROUP", group) }
            if let connector { return ("CONNECTOR", connector) }
            if cluster { return ("CLUSTER", AclResource.clusterName) }
            return nil
        }

        /// The query of a list or delete; `complete` fills the fields a delete must name with ANY.
        func query(complete: Bool, operation: String?) -> String {
            var pairs: [(String, String)] = []
            if let resource {
                pairs.append(("resource_type", resource.type))
                if let name = resource.name { pairs.append(("resource_name", name)) }
                pairs.append(("pattern_type", prefixed ? "PREFIXED" : "LITERAL"))
            } else if complete {
                pairs += [("resource_type", "ANY"), ("pattern_type", prefixed ? "PREFIXED" : "ANY")]
            }
            if let principal { pairs.append(("principal", principal)) }
            if let host { pairs.append(("host", host)) }
            if let operation {
                pairs.append(("operation", Self.upper(operation)))
            } else if complete {
                pairs.append(("operation", "ANY"))
            }
            if deny || allow {
                pairs.append(("permission", deny ? "DENY" : "ALLOW"))
            } else if complete {
                pairs.append(("permission", "ANY"))
            }
            return pairs.map { "\($0.0)=\(RunnelAPI.query($0.1))" }.joined(separator: "&")
        }
    }

    static let columns = ["PRINCIPAL", "PERMISSION", "OPERATION", "RESOURCE TYPE", "RESOURCE NAME", "PATTERN", "HOST"]

    static func row(_ acl: JSONValue) -> [JSONValue] {
        ["principal", "permission", "operation", "resource_type", "resource_name", "pattern_type", "host"].map {
            acl[$0] ?? .null
        }
    }

    static func strip(_ acl: JSONValue) -> JSONValue {
        .object(
            ["principal", "permission", "operation", "resource_type", "resource_name", "pattern_type", "host"].map {
                ($0, acl[$0] ?? .null)
            }
        )
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create ACLs: one per --operation.")
        @OptionGroup var selection: Selection
        @OptionGroup var client: ClientOptions

        func validate() throws {
            guard selection.resource != nil else {
                throw ValidationError("Name a --topic, a --group, a --connector or the --cluster")
            }
            guard selection.principal != nil else { throw ValidationError("--principal is required") }
            guard !selection.operation.isEmpty else { throw ValidationError("--operation is required") }
            if selection.allow { throw ValidationError("--allow is the default; give --deny for a DENY rule") }
        }

        func run() async throws {
            guard let resource = selection.resource, let name = resource.name, let principal = selection.principal
            else { return }
            let api = try client.api()
            let cluster = try await api.clusterId()
            let acls: [JSONValue] = selection.operation.map { operation in
                [
                    "resource_type": .string(resource.type), "resource_name": .string(name),
                    "pattern_type": .string(selection.prefixed ? "PREFIXED" : "LITERAL"),
                    "principal": .string(principal), "host": .string(selection.host ?? "*"),
                    "operation": .string(Selection.upper(operation)),
                    "permission": .string(selection.deny ? "DENY" : "ALLOW"),
                ]
            }
            try await api.call(.POST, api.v3(cluster, "/acls:batch"), json: ["data": .array(acls)])
            switch client.output {
            case .json: Output.printJSON(.array(acls))
            case .table: Output.printRows(ACLCommand.columns, acls.map(ACLCommand.row), as: .table)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the ACLs that match the options (all without).")
        @OptionGroup var selection: Selection
        @OptionGroup var client: ClientOptions

        func validate() throws {
            if selection.operation.count > 1 { throw ValidationError("List with at most one --operation") }
        }

        func run() async throws {
            let api = try client.api()
            let cluster = try await api.clusterId()
            let query = selection.query(complete: false, operation: selection.operation.first)
            let acls = try await api.call(.GET, api.v3(cluster, "/acls") + (query.isEmpty ? "" : "?" + query))
            let data = acls["data"]?.arrayValue ?? []
            switch client.output {
            case .json: Output.printJSON(.array(data.map(ACLCommand.strip)))
            case .table: Output.printRows(ACLCommand.columns, data.map(ACLCommand.row), as: .table)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the ACLs that match the options, and print them."
        )
        @OptionGroup var selection: Selection
        @OptionGroup var client: ClientOptions

        func validate() throws {
            guard selection.resource != nil || selection.principal != nil else {
                throw ValidationError(
                    "Name a --principal or a resource (--topic, --group, --connector, --cluster) to delete ACLs of"
                )
            }
        }

        func run() async throws {
            let api = try client.api()
            let cluster = try await api.clusterId()
            var deleted: [JSONValue] = []
            for operation in selection.operation.isEmpty ? [nil] : selection.operation.map(Optional.some) {
                let query = selection.query(complete: true, operation: operation)
                deleted += try await api.call(.DELETE, api.v3(cluster, "/acls") + "?" + query)["data"]?.arrayValue ?? []
            }
            switch client.output {
            case .json: Output.printJSON(.array(deleted.map(ACLCommand.strip)))
            case .table:
                Output.printRows(ACLCommand.columns, deleted.map(ACLCommand.row), as: .table)
                Output.note("Deleted \(deleted.count) ACL\(deleted.count == 1 ? "" : "s")")
            }
        }
    }
}

struct QuotaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota",
        abstract: "Set, list and remove byte-rate quotas (Kafka's producer_byte_rate and consumer_byte_rate).",
        discussion: """
            A principal over its rate has its answers delayed until it is back within it; a request that would \
            wait longer than the server's --max-throttle-ms is refused (429). The default entry applies to every \
            principal without its own; without authentication every caller is User:ANONYMOUS.

            Examples:
              runnel quota set --principal User:ABCDEFGH12345678 --producer-byte-rate 1048576
              runnel quota set --default --consumer-byte-rate 10485760
              runnel quota list
              runnel quota delete --principal User:ABCDEFGH12345678
            """,
        subcommands: [Set.self, List.self, Delete.self]
    )

    struct Who: ParsableArguments {
        @Option(name: .long, help: "User:<api-key>, or User:ANONYMOUS.") var principal: String?
        @Flag(name: .long, help: "The default entry, for every principal without its own.") var `default` = false

        func validate() throws {
            guard (principal != nil) != `default` else { throw ValidationError("Give --principal or --default") }
        }

        var name: String { principal ?? Quota.defaultPrincipal }
    }

    static let columns = ["PRINCIPAL", "PRODUCER BYTE RATE", "CONSUMER BYTE RATE"]

    static func row(_ quota: JSONValue) -> [JSONValue] {
        ["principal", "producer_byte_rate", "consumer_byte_rate"].map { quota[$0] ?? .null }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a principal's quotas (replacing its entry).")
        @OptionGroup var who: Who
        @Option(name: .long, help: "Bytes per second it may produce.") var producerByteRate: Int64?
        @Option(name: .long, help: "Bytes per second it may fetch.") var consumerByteRate: Int64?
        @OptionGroup var client: ClientOptions

        func validate() throws {
            guard producerByteRate != nil || consumerByteRate != nil else {
                throw ValidationError("Give --producer-byte-rate, --consumer-byte-rate or both")
            }
        }

        func run() async throws {
            let api = try client.api()
            let quota = try await api.call(
                .PUT,
                api.proxy + "/security/quotas/" + RunnelAPI.segment(who.name),
                json: [
                    "producer_byte_rate": producerByteRate.map { .int($0) } ?? .null,
                    "consumer_byte_rate": consumerByteRate.map { .int($0) } ?? .null,
                ]
            )
            Output.printRows(QuotaCommand.columns, [QuotaCommand.row(quota)], as: client.output)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the quotas.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = try client.api()
            let quotas = try await api.call(.GET, api.proxy + "/security/quotas")["data"]?.arrayValue ?? []
            Output.printRows(QuotaCommand.columns, quotas.map(QuotaCommand.row), as: client.output)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a principal's quotas.")
        @OptionGroup var who: Who
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let api = try client.api()
            try await api.call(.DELETE, api.proxy + "/security/quotas/" + RunnelAPI.segment(who.name))
            Output.note("Removed the quotas of \(who.name)")
        }
    }
}
