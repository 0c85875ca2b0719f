import ArgumentParser
import DaemonKit

/// `pgdaemon summary [MODULE]`: every module's summary tables, like the seed's Maint::Daemon::Summary.
struct Summary: DaemonCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the summary tables of every configured module, or of one, read from the shared database.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    @Argument(help: "A configured module's name; default: all.")
    var module: String?

    struct Section: Encodable {
        var module: String
        var tables: [SummaryTable]
    }

    func run(_ registry: ModuleRegistry) async throws {
        let (configuration, connection) = try await global.connect(purpose: "cli", registry: registry)
        var entries = configuration.modules
        if let module {
            entries = entries.filter { $0.name == module }
            guard !entries.isEmpty else {
                throw CommandFailure.usage(
                    "No module \(module) in the configuration; configured: \(configuration.modules.map(\.name).joined(separator: ", "))."
                )
            }
        }
        var sections: [Section] = []
        for entry in entries {
            guard let type = registry[entry.type] else { continue }
            let context = SummaryContext(configuration: configuration, database: connection, module: entry)
            sections.append(Section(module: entry.name, tables: try await type.summary(context)))
        }
        await connection.close()
        if output.json { return try printJSON(sections) }
        print(sections.flatMap(\.tables).map(Self.render).joined(separator: "\n\n"))
    }

    /// A table the way the seed's console printed it: the header, then columns cut or padded to their widths.
    static func render(_ table: SummaryTable) -> String {
        func cell(_ value: String, _ width: Int) -> String {
            let text = value.escapingControlCharacters
            return text.count > width ? String(text.prefix(max(width - 1, 0))) + "…" : text.padding(toLength: width)
        }
        var lines = [table.header]
        guard !table.rows.isEmpty else { return (lines + ["  " + table.noDataMessage]).joined(separator: "\n") }
        lines.append("  " + table.columns.map { cell($0.displayName, $0.width) }.joined(separator: " "))
        lines.append("  " + table.columns.map { String(repeating: "-", count: $0.width) }.joined(separator: " "))
        for row in table.rows {
            lines.append("  " + table.columns.map { cell(row[$0.name] ?? "", $0.width) }.joined(separator: " "))
        }
        return lines.map { String($0.reversed().drop { $0 == " " }.reversed()) }.joined(separator: "\n")
    }
}
