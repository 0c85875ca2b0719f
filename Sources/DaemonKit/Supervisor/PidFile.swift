import Foundation

/// The pid file `run` and `start` write and `stop` and `status` read: the supervisor's pid and a newline.
public struct PidFile: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// Writes this process's pid, creating the folder if needed.
    public func write() throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "\(getpid())\n".write(to: url, atomically: true, encoding: .utf8)
    }

    /// The pid written in the file, if the file exists and holds one.
    public func read() -> Int32? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The pid of a live process named in the file; `nil` when there is none (no file, or a stale one).
    public func livePID() -> Int32? {
        guard let pid = read(), pid > 0, Self.isAlive(pid) else { return nil }
        return pid
    }

    /// Whether a process exists and has not exited: a zombie (exited, not yet reaped by its parent) answers
    /// `kill(pid, 0)` like a live process, so its state in `/proc` is checked too.
    public static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let afterName = stat.range(of: ") ", options: .backwards)
        else { return true }
        return !stat[afterName.upperBound...].hasPrefix("Z")
    }

    /// Removes the file if it still names this process.
    public func remove() {
        if read() == getpid() { try? FileManager.default.removeItem(atPath: path) }
    }
}
