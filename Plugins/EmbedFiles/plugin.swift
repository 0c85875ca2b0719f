import Foundation
import PackagePlugin

/// Compiles text files into the target that reads them, so a `pgdaemon` binary carries them wherever it is copied and
/// can never run against a different set: the package's `sql/` migrations into DaemonKit (`embeddedMigrationFiles`),
/// and a target's own `Templates/` folder, when it has one, into that target (`embeddedTemplates`).
@main
struct EmbedFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let templates = target.directoryURL.appending(path: "Templates")
        let (folder, fileExtension, name) =
            FileManager.default.fileExists(atPath: templates.path)
            ? (templates, "mustache", "embeddedTemplates")
            : (context.package.directoryURL.appending(path: "sql"), "sql", "embeddedMigrationFiles")
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == fileExtension }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) files from \(folder.lastPathComponent)/",
                executable: try context.tool(named: "embed-files").url,
                arguments: [output.path, name] + files.map(\.path),
                // The folder too: its modification time changes when a file is added.
                inputFiles: [folder] + files,
                outputFiles: [output])
        ]
    }
}
