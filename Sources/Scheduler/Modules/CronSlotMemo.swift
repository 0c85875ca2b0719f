import Foundation

/// Finds the entries' slots for one look of the cron manager, computing each (schedule, zone, instant) once:
/// tenants' entries share a few schedules and, due together, their last slots, so 10,000 of them cost a few
/// computations instead of 10,000; and each zone is made once, as `TimeZone(identifier:)` reads ICU's data.
struct CronSlotMemo {
    private struct Key: Hashable {
        var expression: String
        var zone: String
        var after: Date
    }

    private var slots: [Key: Date?] = [:]
    private var zones: [String: TimeZone] = [:]

    /// The entry's first slot after `date`, as `CronSchedule.next(after:in:)`.
    mutating func next(of entry: CronEntry, after date: Date) -> Date? {
        let key = Key(expression: entry.schedule.expression, zone: entry.timeZoneIdentifier, after: date)
        if let slot = slots[key] { return slot }
        let zone = zones[entry.timeZoneIdentifier] ?? entry.timeZone
        zones[entry.timeZoneIdentifier] = zone
        let slot = entry.schedule.next(after: date, in: zone)
        slots[key] = slot
        return slot
    }
}
