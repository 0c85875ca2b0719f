public import DaemonKit
import Foundation
import Postgres

/// Enqueues each `cron:` entry's task at every slot of its schedule. A singleton; each slot is recorded in
/// `scheduler_cron_slot` in the same transaction as its task, under the holder's fence, so a slot runs once in the
/// cluster even if two managers ever ran. It sleeps until the next slot, so tasks start on time, not on a polling loop.
/// After downtime, `catch_up: once` runs the latest missed slot and records the others as skipped; `skip` records
/// them all as skipped.
public final class SchedulerCronTaskManager: DaemonModule {
    public static let description = "Enqueues the cron: entries' tasks at their slots, each slot once in the cluster."
    public static var defaultCluster: ClusterMode { .singleton }
    public static var defaultSleepPost: Duration { .zero }

    /// A slot this close to now is on time; older ones were missed.
    static let tolerance: TimeInterval = 2
    /// The longest sleep, so that schedule changes and summaries stay current.
    static let longestSleep = Duration.seconds(60)

    public let context: ModuleContext
    private let store: CronStore

    public init(context: ModuleContext) async throws {
        self.context = context
        store = CronStore(connection: context.database)
        try await store.register(context.configuration.section(CronSection.self).entries)
    }

    public func run() async throws -> ModuleStep {
        let now = Date()
        var earliest = now.addingTimeInterval(60)
        let known = try await store.entrySlots()
        var due: [CronStore.DueSlot] = []
        var nextSlots: [String: Date] = [:]
        var queuing: [CronEntry] = []
        var memo = CronSlotMemo()
        for entry in context.configuration.section(CronSection.self).entries {
            let slots = known[entry.name]
            var entryDue: [Date] = []
            var slot = memo.next(of: entry, after: slots?.last ?? now.addingTimeInterval(-1))
            while let current = slot, current <= now, entryDue.count < 10_000 {
                entryDue.append(current)
                slot = memo.next(of: entry, after: current)
            }
            // Slots within the tolerance are on time (a takeover may straddle one) and all run; older ones were
            // missed, and catch_up decides about them.
            let missed = entryDue.filter { now.timeIntervalSince($0) > Self.tolerance }
            let caughtUp = entry.catchUp == .once ? missed.last : nil
            due += entryDue.map { .init(entry: entry, slot: $0, missed: missed.contains($0) && $0 != caughtUp) }
            if entry.overlap == .queue, slots?.queued == true || !entryDue.isEmpty { queuing.append(entry) }
            if let slot {
                earliest = min(earliest, slot)
                if slot != slots?.next { nextSlots[entry.name] = slot }
            }
        }
        // Every entry's slots that came since the last look go in together: 1,000 entries due in the same second
        // are one transaction, so the last of them is as late as the first.
        try await store.record(due, fence: context.fence, node: context.node)
        for entry in queuing where try await store.enqueueQueued(entry, fence: context.fence) {
            // A slot waits for the previous task to end; look again in a second.
            earliest = min(earliest, now.addingTimeInterval(1))
        }
        try await store.setNextSlots(nextSlots)
        try await store.updateLastStatus()
        let wait = min(Duration.milliseconds(Int64(max(earliest.timeIntervalSinceNow, 0) * 1000)), Self.longestSleep)
        _ = try await context.stop.sleep(for: wait)
        return .proceed
    }
}
