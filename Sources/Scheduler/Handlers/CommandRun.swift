import Foundation
import Synchronization

/// One run of an allow-listed program: spawned without a shell, signals at their defaults, stdout and stderr captured
/// to a file, and killed (SIGTERM, then SIGKILL 5 s later) at its timeout or when the waiting task is cancelled.
struct CommandRun {
    /// How a run ended.
    struct Outcome {
        var status: Int32?
        var signal: Int32?
        var timedOut: Bool
        var output: String
    }

    /// Output kept per run: the last 64 KiB.
    static let outputLimit = 65_536

    static func run(_ argv: [String], timeout: Duration) async throws -> Outcome {
        let outputPath = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-command-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let pid = try spawn(argv, outputPath: outputPath)
        let killer = Killer(pid: pid)
        let waiting = Task.detached { await wait(for: pid) }
        let timer = Task {
            try await Task.sleep(for: timeout)
            killer.kill(timedOut: true)
        }
        let status = await withTaskCancellationHandler {
            await waiting.value
        } onCancel: {
            killer.kill(timedOut: false)
        }
        timer.cancel()
        killer.finish()
        var data = FileManager.default.contents(atPath: outputPath) ?? Data()
        if data.count > outputLimit { data = data.suffix(outputLimit) }
        return Outcome(
            status: (status & 0x7F) == 0 ? (status >> 8) & 0xFF : nil,
            signal: (status & 0x7F) != 0 ? status & 0x7F : nil, timedOut: killer.timedOut,
            output: String(decoding: data, as: UTF8.self))
    }

    private static func spawn(_ argv: [String], outputPath: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The worker ignores SIGTERM and SIGINT (it handles them through dispatch); its commands must not inherit that.
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        let arguments = argv.map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, arguments, environ)
        guard result == 0 else {
            throw PermanentTaskFailure(
                "Cannot start \(argv[0]): \(String(cString: strerror(result))).")
        }
        return pid
    }

    /// Waits for the process on a thread of its own: `waitpid` blocks.
    private static func wait(for pid: pid_t) async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: status)
            }.start()
        }
    }

    /// Sends SIGTERM, then SIGKILL 5 s later if the process is still there, at most once.
    private final class Killer: Sendable {
        private struct State {
            var killed = false
            var timedOut = false
            var finished = false
        }

        private let pid: pid_t
        private let state = Mutex(State())

        init(pid: pid_t) { self.pid = pid }

        var timedOut: Bool { state.withLock { $0.timedOut } }

        func kill(timedOut: Bool) {
            let first = state.withLock { state in
                defer {
                    state.killed = true
                    state.timedOut = state.timedOut || timedOut
                }
                return !state.killed && !state.finished
            }
            guard first else { return }
            Foundation.kill(pid, SIGTERM)
            Task.detached { [self] in
                try? await Task.sleep(for: .seconds(5))
                if !state.withLock({ $0.finished }) { Foundation.kill(pid, SIGKILL) }
            }
        }

        /// The process was reaped: its pid may be reused, so it is never signalled again.
        func finish() {
            state.withLock { $0.finished = true }
        }
    }
}
