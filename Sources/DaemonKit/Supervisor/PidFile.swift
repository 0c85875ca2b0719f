import Foundation

/// The pid file `run` and `start` write and `stop`, `status`, `drain`, `undrain` and `reload` read.
///
/// A pid in a file proves nothing once its process is gone: after a crash, a power cut or a container restart the pid
/// may name another program, and signalling it would hit that program. So the supervisor holds an exclusive `fcntl`
/// lock on the file for its whole life (`lock()`), and readers trust the file only while that lock is held and its
/// holder is the process the file names (`state()`). The kernel drops the lock when the supervisor dies, even by
/// SIGKILL, so a stale file is recognised as stale at once.
public struct PidFile: Sendable {
    /// What the file says about this node's supervisor.
    public enum State: Sendable, Equatable {
        /// No file, or an empty one that nobody holds.
        case notRunning
        /// A file that names `pid` but is not held: the supervisor that wrote it is gone. `pidIsAlive` tells whether
        /// that pid now belongs to another process.
        case stale(pid: Int32, pidIsAlive: Bool)
        /// A live supervisor holds the file, and has not written its pid yet: it waits for the database or starts its
        /// modules.
        case starting(pid: Int32)
        /// A live supervisor holds the file and is up.
        case running(pid: Int32)

        /// The supervisor's pid while one holds the file.
        public var livePID: Int32? {
            switch self {
            case .starting(let pid), .running(let pid): pid
            case .notRunning, .stale: nil
            }
        }
    }

    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// Reads the file and who holds its lock. It takes no lock itself, so it never stands in a starting supervisor's
    /// way.
    public func state() -> State {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .notRunning }
        defer { close(descriptor) }
        let written = Self.pid(in: Self.lines(of: descriptor).first ?? "")
        var probe = Self.wholeFile(F_WRLCK)
        guard fcntl(descriptor, F_GETLK, &probe) == 0, probe.l_type != F_UNLCK else {
            return written.map { .stale(pid: $0, pidIsAlive: Self.isAlive($0)) } ?? .notRunning
        }
        // A holder in another pid namespace shows as 0; then the written pid is the only one there is.
        let holder = probe.l_pid > 0 ? probe.l_pid : written ?? 0
        return written == holder ? .running(pid: holder) : .starting(pid: holder)
    }

    /// The node name a supervisor that is up wrote under its pid: the CLI's commands act on the node that runs, whatever
    /// name their own configuration would give this host (`pgdaemon run --node NAME`).
    public func node() -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        let lines = Self.lines(of: descriptor)
        return lines.count > 1 && !lines[1].isEmpty ? lines[1] : nil
    }

    /// Takes the file for this supervisor: creates it (and its folder), locks it, and empties it until `Lock.publish(node:)`
    /// writes the pid. Throws `PidFileHeld` when a live supervisor holds it.
    public func lock() throws -> Lock {
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
        while true {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            var request = Self.wholeFile(F_WRLCK)
            guard fcntl(descriptor, F_SETLK, &request) == 0 else {
                close(descriptor)
                if errno == EACCES || errno == EAGAIN {
                    throw PidFileHeld(path: path, pid: state().livePID)
                }
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            // A supervisor that was stopping may have removed the file between the open and the lock: the lock is
            // then on a file nobody else sees, so take the one at the path instead.
            var opened = stat()
            var named = stat()
            if fstat(descriptor, &opened) == 0, stat(path, &named) == 0, opened.st_ino == named.st_ino,
                opened.st_dev == named.st_dev
            {
                ftruncate(descriptor, 0)
                return Lock(path: path, descriptor: descriptor)
            }
            close(descriptor)
        }
    }

    /// The supervisor's hold on its pid file. The lock is `fcntl`'s, which belongs to the process: it is not inherited
    /// by children, and closing any descriptor of the file in this process would drop it, so the supervisor opens the
    /// file through this descriptor only.
    public final class Lock: Sendable {
        public let path: String
        private let descriptor: Int32

        fileprivate init(path: String, descriptor: Int32) {
            self.path = path
            self.descriptor = descriptor
        }

        /// Writes this process's pid, and under it the node's name: the supervisor is up.
        public func publish(node: String) throws {
            let text = Array("\(getpid())\n\(node)\n".utf8)
            guard ftruncate(descriptor, 0) == 0, pwrite(descriptor, text, text.count, 0) == text.count else {
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
        }

        /// Removes the file and lets go of it; the removal comes first, so no reader sees an unheld file naming this
        /// process.
        public func release() {
            unlink(path)
            close(descriptor)
        }
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

    private static func wholeFile(_ type: Int32) -> flock {
        var lock = flock()
        lock.l_type = Int16(type)
        lock.l_whence = Int16(SEEK_SET)
        return lock
    }

    /// The file's first two lines, the pid and the node's name, from its first 4 KiB: more is not a pid file's.
    private static func lines(of descriptor: Int32) -> [String] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        return String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
            .split(separator: "\n", maxSplits: 2, omittingEmptySubsequences: false).prefix(2).map(String.init)
    }

    private static func pid(in text: String) -> Int32? {
        Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)).flatMap { $0 > 0 ? $0 : nil }
    }
}

/// A second supervisor for a pid file that a live one holds.
public struct PidFileHeld: Error, CustomStringConvertible {
    public var path: String
    public var pid: Int32?

    public var description: String {
        let holder = pid.map { " (pid \($0))" } ?? ""
        return
            "A running supervisor\(holder) holds the pid file \(path); stop it first, or give this configuration a daemon.pid_file of its own."
    }
}
