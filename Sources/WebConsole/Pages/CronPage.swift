import Foundation
import Postgres
import Scheduler

/// The cron entries: schedule, pause, last and next slots, the last slot's status and duration.
struct CronPage: Sendable {
    struct Entry: Sendable {
        var name: String
        var schedule: String
        var taskType: String
        var overlap: String
        var paused: Bool
        var pausedSince: String
        var lastSlot: String
        var lastStatus: String
        var lastDuration: String
        var nextSlot: String
    }

    var entries: [Entry]

    static func read(_ connection: Connection) async throws -> CronPage {
        CronPage(
            entries: try await CronStore(connection: connection).list().map { entry in
                Entry(
                    name: entry.name, schedule: "\(entry.schedule) \(entry.timezone)", taskType: entry.taskType,
                    overlap: entry.overlapText,
                    paused: entry.pausedAt != nil, pausedSince: Formatting.time(entry.pausedAt),
                    lastSlot: Formatting.time(entry.lastSlot), lastStatus: entry.lastStatus ?? "-",
                    lastDuration: entry.lastDurationMilliseconds.map { Formatting.age(seconds: Double($0) / 1000) }
                        ?? "-",
                    nextSlot: Formatting.time(entry.nextSlot))
            })
    }
}
