import Foundation
import PackagePlugin

/// Compiles the package's `sql/` migrations into the target that applies them, so a `pgdaemon` binary carries its
/// schema wherever it is copied and can never run against a different set of files.
@main
struct EmbedSQL: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let folder = context.package.directoryURL.appending(path: "sql")
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) migrations from sql/",
                executable: try context.tool(named: "embed-sql").url,
                arguments: [output.path] + files.map(\.path),
                // The folder too: its modification time changes when a migration is added.
                inputFiles: [folder] + files,
                outputFiles: [output])
        ]
    }
}
