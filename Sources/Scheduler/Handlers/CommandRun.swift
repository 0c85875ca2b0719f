import DaemonKit
import Foundation
import Synchronization

/// One run of an allow-listed program: spawned without a shell (`ChildProcess`: signals at their defaults), stdout and
/// stderr captured to a file without a name, and killed (SIGTERM, then SIGKILL 5 s later) at its timeout or when the
/// waiting task is cancelled.
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
        let output = try outputFile()
        defer { close(output) }
        let process: ChildProcess
        do {
            process = try ChildProcess(
                executable: argv[0], arguments: Array(argv.dropFirst()), stdout: .descriptor(output),
                stderr: .descriptor(output))
        } catch let error as POSIXError {
            throw PermanentTaskFailure("Cannot start \(argv[0]): \(error.localizedDescription).")
        }
        let killer = Killer(process: process)
        // The timeout is a child of the wait's group, ended with it.
        let code = await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                guard (try? await CoarseTimer.shared.sleep(until: .now + timeout)) != nil else { return nil }
                killer.kill(timedOut: true)
                return nil
            }
            defer { group.cancelAll() }
            return await withTaskCancellationHandler {
                (try? await process.wait()) ?? -1
            } onCancel: {
                killer.kill(timedOut: false)
            }
        }
        return Outcome(
            status: process.terminatingSignal == nil ? code : nil, signal: process.terminatingSignal,
            timedOut: killer.timedOut,
            output: String(decoding: tail(of: output), as: UTF8.self))
    }

    /// A file in the temporary folder, open for reading and writing, whose name is removed at once: a worker killed
    /// while the program runs leaves nothing behind, where a named file stayed in `/tmp` for good.
    private static func outputFile() throws -> Int32 {
        let path = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-command-\(UUID().uuidString)").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        unlink(path)
        return descriptor
    }

    /// The last `outputLimit` bytes written to `descriptor`.
    private static func tail(of descriptor: Int32) -> [UInt8] {
        let size = Int(max(0, lseek(descriptor, 0, SEEK_END)))
        let start = max(0, size - outputLimit)
        var bytes = [UInt8](repeating: 0, count: size - start)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(start)) }
        return Array(bytes.prefix(max(0, count)))
    }

    /// Sends SIGTERM, then SIGKILL 5 s later if the process is still there, at most once; through `ChildProcess`, which
    /// signals nothing once the process is reaped (its pid may be reused by then).
    private final class Killer: Sendable {
        private struct State {
            var killed = false
            var timedOut = false
        }

        private let process: ChildProcess
        private let state = Mutex(State())

        init(process: ChildProcess) { self.process = process }

        var timedOut: Bool { state.withLock { $0.timedOut } }

        func kill(timedOut: Bool) {
            let first = state.withLock { state in
                defer {
                    state.killed = true
                    state.timedOut = state.timedOut || timedOut
                }
                return !state.killed
            }
            guard first else { return }
            process.signal(SIGTERM)
            Task.detached { [process] in
                try? await Task.sleep(for: .seconds(5))
                process.signal(SIGKILL)
            }
        }
    }
}
