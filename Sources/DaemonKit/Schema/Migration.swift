/// One numbered file of `sql/`, compiled into the binary by the EmbedFiles plugin.
public struct Migration: Sendable, Identifiable {
    /// The number the file name starts with; migrations apply in this order.
    public let id: Int
    /// The file name, such as `0001_scheduler.sql`.
    public let fileName: String
    public let sql: String

    public init(id: Int, fileName: String, sql: String) {
        self.id = id
        self.fileName = fileName
        self.sql = sql
    }

    /// Every migration this build knows, in order.
    public static let all: [Migration] = embeddedMigrationFiles.compactMap { file in
        guard let number = Int(file.name.prefix { $0.isNumber }) else { return nil }
        return Migration(id: number, fileName: file.name, sql: file.text)
    }
}
