import DaemonKit
import Foundation
import Logging

/// Runs one claimed task with its handler, within the handler's timeout, and tells how the attempt ended.
struct TaskRunner: Sendable {
    let handlers: TaskHandlerRegistry
    let backoff: Backoff
    let context: ModuleContext
    /// What a cancel request reaches.
    let attempts: RunningAttempts

    func execute(_ task: ClaimedTask) async -> TaskOutcome {
        let started = task.serverTime()
        let output = TaskOutput()
        func outcome(_ status: TaskOutcome.Status, _ error: String? = nil, retryAt: Double? = nil) -> TaskOutcome {
            TaskOutcome(
                id: task.id, token: task.token, queue: task.queue, status: status, error: error,
                output: output.contents.isEmpty ? nil : output.contents,
                retryAt: retryAt, startedAt: started, finishedAt: task.serverTime())
        }
        guard let handler = handlers[task.type] else {
            return outcome(
                .failed,
                "No handler for task type \(task.type); this binary runs \(handlers.types.joined(separator: ", ")).")
        }
        var logger = context.logger
        logger[metadataKey: "task.id"] = "\(task.id)"
        logger[metadataKey: "task.type"] = "\(task.type)"
        let taskContext = TaskContext(
            taskID: task.id, name: task.name, attempt: task.attempts, maxAttempts: task.maxAttempts, logger: logger,
            configuration: context.configuration, database: context.database, output: output)
        do {
            let attempt = try handler.prepare(task.dataJSON)
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask { [attempts] in
                    if try await attempts.run(task.id, { try await attempt.run(taskContext) }) {
                        throw TaskCancelRequested()
                    }
                    return true
                }
                group.addTask {
                    try await CoarseTimer.shared.sleep(until: .now + attempt.timeout)
                    return false
                }
                defer { group.cancelAll() }
                guard try await group.next() == true else {
                    throw TaskTimedOut(type: task.type, timeout: attempt.timeout)
                }
            }
            return outcome(.done)
        } catch is TaskCancelRequested {
            logger.info("Task cancelled on request.")
            return outcome(.cancelled, "Cancelled with scheduler_task_cancel.")
        } catch let failure as PermanentTaskFailure {
            logger.warning("Task failed for good.", metadata: ["error": "\(failure)"])
            return outcome(.failed, failure.description)
        } catch {
            if Task.isCancelled { return outcome(.released) }
            let message = "\(error)"
            guard task.attempts < task.maxAttempts else {
                logger.warning("Task failed on its last attempt.", metadata: ["error": "\(message)"])
                return outcome(.failed, message)
            }
            let delay = backoff.delay(attempt: task.attempts)
            logger.info("Task failed; it will be retried.", metadata: ["error": "\(message)", "retry.in": "\(delay)"])
            return outcome(.retried, message, retryAt: task.serverTime() + delay / .seconds(1))
        }
    }
}

/// An attempt stopped by `scheduler_task_cancel`.
private struct TaskCancelRequested: Error {}
