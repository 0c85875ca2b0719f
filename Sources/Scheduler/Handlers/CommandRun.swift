import DaemonKit
import Foundation
import Synchronization

/// One run of an allow-listed program: spawned without a shell (`ChildProcess`: signals at their defaults), stdout and
/// stderr captured to a file, and killed (SIGTERM, then SIGKILL 5 s later) at its timeout or when the waiting task is
/// cancelled.
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
        let process: ChildProcess
        do {
            process = try ChildProcess(
                executable: argv[0], arguments: Array(argv.dropFirst()), stdout: .file(outputPath),
                stderr: .file(outputPath))
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
        var data = FileManager.default.contents(atPath: outputPath) ?? Data()
        if data.count > outputLimit { data = data.suffix(outputLimit) }
        return Outcome(
            status: process.terminatingSignal == nil ? code : nil, signal: process.terminatingSignal,
            timedOut: killer.timedOut,
            output: String(decoding: data, as: UTF8.self))
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
