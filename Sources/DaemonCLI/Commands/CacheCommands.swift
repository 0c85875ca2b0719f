import ArgumentParser
import Cache
import DaemonKit
import Foundation

/// `pgdaemon cache`: look into and change the shared cache (DESIGN §7).
struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "Show cache statistics; get, set or delete an entry; clear a type or all.",
        subcommands: [Stats.self, Get.self, SetEntry.self, Delete.self, Clear.self])

    /// The type and key arguments, checked before anything connects.
    struct EntryName: ParsableArguments {
        @Argument(help: "The cache type, such as a module's name.") var type: String
        @Argument(help: "The entry's key within its type.") var key: String

        func validate() throws {
            do {
                try Cache.check(type: type, key: key)
            } catch let error as CacheError {
                throw ValidationError(error.description)
            }
        }
    }

    struct Stats: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "Entries, value bytes and expired entries per type, with the configured limits.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        struct TypeReport: Encodable {
            var type: String
            var entries: Int
            var bytes: Int64
            var expired: Int
            var maxEntries: Int?
            var maxBytes: Int64?
        }

        struct Report: Encodable {
            var logged: Bool
            var types: [TypeReport]
        }

        func run(_ registry: ModuleRegistry) async throws {
            let (configuration, connection) = try await global.connect(purpose: "cli", registry: registry)
            let cache = Cache(connection: connection)
            let statistics = try await cache.statistics()
            let logged = try await cache.isLogged()
            await connection.close()
            let limits = configuration.section(CacheSettings.self).limits
            let types = statistics.map { type in
                TypeReport(
                    type: type.type, entries: type.entries, bytes: type.bytes, expired: type.expired,
                    maxEntries: limits[type.type]?.maxEntries, maxBytes: limits[type.type]?.maxBytes)
            }
            if output.json { return try printJSON(Report(logged: logged, types: types)) }
            if types.isEmpty {
                print("The cache is empty.")
            } else {
                var table = TextTable("TYPE", "ENTRIES", "BYTES", "EXPIRED", "MAX ENTRIES", "MAX BYTES")
                for type in types {
                    table.append([
                        type.type, String(type.entries), String(type.bytes), String(type.expired),
                        type.maxEntries.map(String.init) ?? "-", type.maxBytes.map(String.init) ?? "-",
                    ])
                }
                print(table.rendered)
            }
            print(
                logged
                    ? "cache_entry is logged: it survives a database crash and is replicated."
                    : "cache_entry is unlogged: it is emptied by a database crash and not replicated.")
        }
    }

    struct Get: DaemonCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print an entry's value; exits 1 when it is missing or expired.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var name: EntryName

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let entry = try await Cache(connection: connection).entry(type: name.type, key: name.key)
            await connection.close()
            guard let entry else {
                throw CommandFailure.failure("No entry \(name.key) of type \(name.type): it is missing or expired.")
            }
            let value = StoredValue(entry.value)
            guard output.json else { return print(value.text) }
            var document: [String: Any] = [
                "type": entry.type, "key": entry.key, "bytes": entry.value.count,
                "createdAt": entry.createdAt.formatted(.iso8601),
                "expiresAt": entry.expiresAt?.formatted(.iso8601) ?? NSNull(),
            ]
            switch value {
            case .json(let object): document["value"] = object
            case .text(let text): document["text"] = text
            case .binary(let data): document["base64"] = data.base64EncodedString()
            }
            let json = try JSONSerialization.data(
                withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: json, as: UTF8.self))
        }
    }

    struct SetEntry: DaemonCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Store a value, replacing the entry's; as a string, or as JSON with --json-value.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var name: EntryName
        @Argument(help: "The value: stored as a JSON string, unless --json-value.") var value: String
        @Option(help: "How long it is served: 30s, 10m, 2h; default: until deleted.") var ttl: String?
        @Flag(help: "VALUE is a JSON document (object, list, number…), stored as it is.") var jsonValue = false

        func validate() throws {
            if let ttl, (DurationText.parse(ttl) ?? .zero) <= .zero {
                throw ValidationError("--ttl \(ttl) is not a positive duration; write it like 30s, 10m or 2h.")
            }
            if jsonValue, (try? JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)) == nil
            {
                throw ValidationError("VALUE is not valid JSON, which --json-value asks for.")
            }
        }

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let cache = Cache(connection: connection)
            let ttl = self.ttl.flatMap(DurationText.parse)
            if jsonValue {
                try await cache.setEncoded(Data(value.utf8), type: name.type, key: name.key, ttl: ttl)
            } else {
                try await cache.set(value, type: name.type, key: name.key, ttl: ttl)
            }
            await connection.close()
            print(
                "Stored \(name.key) of type \(name.type)" + (ttl.map { " for \(DurationText.format($0))" } ?? "") + ".")
        }
    }

    struct Delete: DaemonCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an entry; exits 1 when there is none.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var name: EntryName

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let deleted = try await Cache(connection: connection).delete(type: name.type, key: name.key)
            await connection.close()
            guard deleted else { throw CommandFailure.failure("No entry \(name.key) of type \(name.type).") }
            print("Deleted \(name.key) of type \(name.type).")
        }
    }

    struct Clear: DaemonCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every entry, or every entry of one type.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this type.") var type: String?

        func validate() throws {
            do {
                try type.map(Cache.checkType)
            } catch let error as CacheError {
                throw ValidationError(error.description)
            }
        }

        func run(_ registry: ModuleRegistry) async throws {
            let (_, connection) = try await global.connect(purpose: "cli", registry: registry)
            let removed = try await Cache(connection: connection).cleanUp(type: type)
            await connection.close()
            print(
                "Removed \(removed) \(removed == 1 ? "entry" : "entries")" + (type.map { " of type \($0)" } ?? "") + "."
            )
        }
    }
}

/// A stored value as the command line shows it: JSON as JSON (a JSON string as its text), other UTF-8 text as it is,
/// anything else as base64.
enum StoredValue {
    case json(Any)
    case text(String)
    case binary(Data)

    init(_ bytes: Data) {
        if let object = try? JSONSerialization.jsonObject(with: bytes, options: .fragmentsAllowed) {
            self = .json(object)
        } else if let text = String(data: bytes, encoding: .utf8) {
            self = .text(text)
        } else {
            self = .binary(bytes)
        }
    }

    var text: String {
        switch self {
        case .json(let string as String): string
        case .json(let object):
            (try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]))
                .map { String(decoding: $0, as: UTF8.self) } ?? ""
        case .text(let text): text
        case .binary(let data): data.base64EncodedString()
        }
    }
}
