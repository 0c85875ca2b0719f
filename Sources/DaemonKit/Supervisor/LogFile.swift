public import Foundation

/// The log files of a detached daemon: `DIRECTORY/NAME.log`, appended to (`pgdaemon.log` for the supervisor, one per
/// module).
public enum LogFile {
    public static func path(directory: String, name: String) -> String {
        (directory as NSString).appendingPathComponent("\(name).log")
    }

    /// Opens the file for appending, creating it and its folder if needed.
    public static func open(directory: String, name: String) throws -> FileHandle {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = path(directory: directory, name: name)
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        return handle
    }
}
