public import DaemonKit
import Foundation

/// The `cron:` section: the entries in file order, then the defaults the file neither replaced by name nor switched
/// off (`NAME: false`).
public struct CronSection: ConfigurationSection, Equatable {
    public static let key = "cron"

    public var entries: [CronEntry]

    /// The entries every node has unless its file replaces one or switches it off: `cache-cleanup`, every five
    /// minutes, which keeps the cache's limits (`CacheCleanupHandler`).
    public static let defaults = [
        CronEntry(
            name: "cache-cleanup", schedule: try! CronSchedule("*/5 * * * *"), timeZoneIdentifier: "UTC",
            catchUp: .once, taskType: CacheCleanupHandler.type, taskDataJSON: "{}", priority: 0, maxAttempts: 3)
    ]

    public init() {
        entries = Self.defaults
    }

    public init(_ value: ConfigurationValue) throws {
        let pairs = try value.pairs()
        let named = Set(pairs.map(\.key))
        // Tenants' entries share a few schedules and zones: each is read once, so 10,000 entries load in a fraction
        // of a second.
        var schedules: [String: CronSchedule] = [:]
        var zones: [String: String] = [:]
        entries = try pairs.compactMap {
            $0.value.isFalse ? nil : try Self.entry($0, schedules: &schedules, zones: &zones)
        }
        entries += Self.defaults.filter { !named.contains($0.name) }
    }

    /// Reads one entry; `schedules` and `zones` hold those read before, by their text.
    private static func entry(
        _ pair: ConfigurationValue.Pair, schedules: inout [String: CronSchedule], zones: inout [String: String]
    ) throws -> CronEntry {
        let pairs = try pair.value.pairs(allowed: ["schedule", "timezone", "catch_up", "queue", "overlap", "task"])
        func value(_ key: String) -> ConfigurationValue? { pairs.first { $0.key == key }?.value }
        guard let scheduleValue = value("schedule") else { throw pair.fail("missing schedule") }
        let expression = try scheduleValue.string()
        let schedule: CronSchedule
        do {
            schedule = try schedules[expression] ?? CronSchedule(expression)
        } catch let error as CronError {
            throw scheduleValue.fail(error.description)
        }
        schedules[expression] = schedule
        var timeZone = "UTC"
        if let zone = value("timezone") {
            let text = try zone.string()
            guard let identifier = zones[text] ?? TimeZone(identifier: text)?.identifier else {
                throw zone.fail("\"\(text)\" is not a time zone such as Europe/Berlin")
            }
            zones[text] = identifier
            timeZone = identifier
        }
        var catchUp = CronEntry.CatchUp.once
        if let catchUpValue = value("catch_up") {
            let text = try catchUpValue.string()
            guard let parsed = CronEntry.CatchUp(rawValue: text) else {
                throw catchUpValue.fail("expected once or skip, not \"\(text)\"")
            }
            catchUp = parsed
        }
        guard let task = value("task") else { throw pair.fail("missing task") }
        let taskPairs = try task.pairs(allowed: ["type", "data", "priority", "max_attempts"])
        guard let type = taskPairs.first(where: { $0.key == "type" }) else { throw task.fail("missing type") }
        var entry = CronEntry(
            name: pair.key, schedule: schedule, timeZoneIdentifier: timeZone, catchUp: catchUp,
            taskType: try type.value.string(), taskDataJSON: "{}", priority: 0, maxAttempts: 3)
        if let queue = value("queue") { entry.queue = try queue.string() }
        if let overlapValue = value("overlap") {
            let text = try overlapValue.string()
            guard let parsed = CronEntry.Overlap(rawValue: text) else {
                throw overlapValue.fail("expected skip, queue or allow, not \"\(text)\"")
            }
            entry.overlap = parsed
        }
        for taskPair in taskPairs {
            switch taskPair.key {
            case "data":
                guard taskPair.value.isMapping else { throw taskPair.value.fail("expected a mapping, the task's data") }
                entry.taskDataJSON = try taskPair.value.jsonObjectText()
            case "priority": entry.priority = try taskPair.value.integer()
            case "max_attempts": entry.maxAttempts = try taskPair.value.integer()
            default: break
            }
        }
        return entry
    }
}
