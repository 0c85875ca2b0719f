public import Foundation
import Synchronization

/// A child process started with `posix_spawn` and reaped by a thread of its own that blocks in `waitpid`.
///
/// Foundation's `Process` was seen here not to report the exit of some children, so a supervisor waiting for it would
/// never restart a module; a blocking `waitpid` on the child's own pid cannot miss it.
public final class ChildProcess: Sendable {
    /// Where a standard stream of the child goes.
    public enum Stream: Sendable {
        /// The same as this process's.
        case inherit
        /// `/dev/null`.
        case null
        /// Appended to a file, created when missing.
        case file(String)
        /// A descriptor of this process (a pipe's end); the child gets a copy.
        case descriptor(Int32)
    }

    public let pid: pid_t
    private let status = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`; `environment` replaces this process's when given. Signal dispositions and
    /// mask are reset in the child, so a parent that ignores SIGTERM or SIGINT does not pass that on. `onExit` runs on
    /// the reaping thread with the raw wait status.
    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil,
        stdin: Stream = .null, stdout: Stream = .inherit, stderr: Stream = .inherit,
        onExit: (@Sendable (Int32) -> Void)? = nil
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (descriptor, stream) in [(STDIN_FILENO, stdin), (STDOUT_FILENO, stdout), (STDERR_FILENO, stderr)] {
            switch stream {
            case .inherit: break
            case .null:
                posix_spawn_file_actions_addopen(
                    &actions, descriptor, "/dev/null", descriptor == STDIN_FILENO ? O_RDONLY : O_WRONLY, 0)
            case .file(let path):
                posix_spawn_file_actions_addopen(&actions, descriptor, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            case .descriptor(let source):
                posix_spawn_file_actions_adddup2(&actions, source, descriptor)
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        var pid: pid_t = 0
        let result =
            envp.map { envp in posix_spawn(&pid, executable, &actions, &attributes, argv, envp) }
            ?? posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        self.pid = pid
        let child = pid
        let thread = Thread { [self] in
            // Waits for the exit without reaping, then reaps under the lock that `signal(_:)` takes: while the lock
            // shows no status the pid is still this child's (alive, or a zombie), never a reused one.
            var info = siginfo_t()
            while waitid(P_PID, id_t(child), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
            let raw = self.status.withLock { status in
                var raw: Int32 = 0
                while waitpid(child, &raw, 0) < 0 && errno == EINTR {}
                status = raw
                return raw
            }
            onExit?(raw)
        }
        thread.name = "reap \(pid)"
        thread.start()
    }

    /// Sends `signal` to the child unless it has been reaped: a reaped child's pid may already belong to another
    /// process, so only this, never `kill(pid, …)`, signals a child. Returns whether the signal went.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        status.withLock { status in status == nil && kill(pid, signal) == 0 }
    }

    /// Whether the child has not been reaped yet.
    public var isRunning: Bool { status.withLock { $0 == nil } }

    /// The exit status, or 128 + the signal that ended it; `nil` while it runs.
    public var exitCode: Int32? {
        status.withLock { $0.map(Self.exitCode) }
    }

    /// The signal that ended the child, once reaped, if one did.
    public var terminatingSignal: Int32? {
        status.withLock { $0.flatMap(Self.signal(of:)) }
    }

    /// The signal that ended the child, if one did.
    public static func signal(of raw: Int32) -> Int32? {
        (raw & 0x7F) != 0 ? raw & 0x7F : nil
    }

    /// The exit status of a raw wait status, or 128 + the signal.
    public static func exitCode(of raw: Int32) -> Int32 {
        signal(of: raw).map { 128 + $0 } ?? (raw >> 8) & 0xFF
    }

    /// Waits, polling every 10 ms, until the child is reaped; returns its exit code.
    public func wait() async throws -> Int32 {
        while true {
            if let code = exitCode { return code }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
