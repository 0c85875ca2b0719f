import Foundation

/// The log files of a detached daemon: `DIRECTORY/NAME.log` (`pgdaemon.log` for the supervisor, one per module),
/// which `ChildProcess` appends to.
public enum LogFile {
    /// The file's path, with its folder created if needed.
    public static func prepare(directory: String, name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return (directory as NSString).appendingPathComponent("\(name).log")
    }
}
