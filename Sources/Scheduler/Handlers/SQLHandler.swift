import Postgres

/// `SQL`: runs an entry of the configuration's `statements:` allow-list, `{"statement": "purge-sessions"}`, on the
/// worker's connection; its row count goes into history. A statement not on the list fails at once.
public struct SQLHandler: TaskHandler {
    public struct Payload: Decodable, Sendable {
        public var statement: String
    }

    public static let type = "SQL"
    public init() {}

    public func run(_ payload: Payload, context: TaskContext) async throws {
        let statement = try allowListed(
            payload.statement, in: context.configuration.section(StatementsSection.self).statements,
            called: "statements")
        // Trusted text: it comes from the node's configuration file, never from the task's data.
        let rows = try await context.database.execute(SQL(unsafeSQL: statement))
        context.output.append("\(rows) rows\n")
    }
}
