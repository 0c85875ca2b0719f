import Foundation

/// Runs `body` with the path of a new file in the temporary folder that holds `text`, and removes the file afterwards,
/// also when `body` throws: the configuration tests read files, and the ones they left behind piled up in `/tmp`, forty
/// with every `scripts/test`.
public func withTemporaryFile<Value>(holding text: String, _ body: (String) throws -> Value) throws -> Value {
    let path = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-\(UUID().uuidString).yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}
