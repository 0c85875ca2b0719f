public import DaemonKit
import Foundation
import Postgres

/// Enqueues each `cron:` entry's task at every slot of its schedule. A singleton; each slot is recorded in
/// `scheduler_cron_slot` in the same transaction as its task, under the holder's fence, so a slot runs once in the
/// cluster even if two managers ever ran. It sleeps until the next slot, so tasks start on time, not on a polling loop.
/// After downtime, `catch_up: once` runs the latest missed slot and records the others as skipped; `skip` records
/// them all as skipped. Slots are read on the database's clock (`DatabaseClock`): a node whose wall clock is off
/// still enqueues each slot at its time.
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
    private let clock = DatabaseClock()
    private var lead = CronLead()

    public init(context: ModuleContext) async throws {
        self.context = context
        store = CronStore(connection: context.database)
        let entries = context.configuration.section(CronSection.self).entries
        var memo = CronSlotMemo()
        // Once per process: the offset is to this process's monotonic clock, which does not step; a step of the
        // server's clock is learned by the next child process.
        try await clock.synchronize(on: context.database)
        let now = clock.date
        try await store.register(entries, next: entries.map { memo.next(of: $0, after: now.addingTimeInterval(-1)) })
    }

    public func run() async throws -> ModuleStep {
        let entries = context.configuration.section(CronSection.self).entries
        let now = clock.date
        let known = try await store.entrySlots()
        var memo = CronSlotMemo()
        let firsts = entries.map { memo.next(of: $0, after: known[$0.name]?.last ?? now.addingTimeInterval(-1)) }
        // Slots due now go in at once. Otherwise the earliest slot's batch, once within the lead, is prepared now and
        // committed at its time.
        let earliest = firsts.compactMap { $0 }.min()
        let ahead = earliest.map { $0 > now && now.addingTimeInterval(lead.seconds(for: firsts, at: $0)) >= $0 }
        let horizon = ahead == true ? earliest! : now
        var due: [CronStore.DueSlot] = []
        var nextSlots: [String: Date] = [:]
        var queuing: [CronEntry] = []
        var next: [Date?] = []
        for (entry, first) in zip(entries, firsts) {
            var entryDue: [Date] = []
            var slot = first
            while let current = slot, current <= horizon, entryDue.count < 10_000 {
                entryDue.append(current)
                slot = memo.next(of: entry, after: current)
            }
            // Slots within the tolerance are on time (a takeover may straddle one) and all run; older ones were
            // missed, and catch_up decides about them.
            let missed = entryDue.filter { now.timeIntervalSince($0) > Self.tolerance }
            let caughtUp = entry.catchUp == .once ? missed.last : nil
            due += entryDue.map { .init(entry: entry, slot: $0, missed: missed.contains($0) && $0 != caughtUp) }
            let slots = known[entry.name]
            if entry.overlap == .queue, slots?.queued == true || !entryDue.isEmpty { queuing.append(entry) }
            if let slot, slot != slots?.next { nextSlots[entry.name] = slot }
            next.append(slot)
        }
        // Every entry's slots that came since the last look go in together: 1,000 entries due in the same second
        // are one transaction, so the last of them is as late as the first.
        let (stop, clock) = (context.stop, clock)
        if let preparation = try await store.record(
            due, fence: context.fence, node: context.node,
            beforeCommit: {
                let wait = horizon.timeIntervalSince(clock.date)
                guard wait > 0 else { return true }
                return try await !stop.sleep(for: .seconds(wait))
            })
        {
            lead.learn(preparation: preparation, slots: due.count)
            context.logger.debug(
                "Recorded a batch of slots.",
                metadata: ["slots": "\(due.count)", "preparation": "\(preparation)", "ahead": "\(ahead == true)"])
        }
        var wake = next.compactMap { $0 }.min() ?? now.addingTimeInterval(60)
        for entry in queuing where try await store.enqueueQueued(entry, fence: context.fence) {
            // A slot waits for the previous task to end; look again in a second.
            wake = min(wake, now.addingTimeInterval(1))
        }
        try await store.setNextSlots(nextSlots)
        try await store.updateLastStatus()
        let wait = wake.timeIntervalSince(clock.date) - lead.seconds(for: next, at: wake)
        _ = try await context.stop.sleep(for: min(.seconds(max(wait, 0)), Self.longestSleep))
        return .proceed
    }
}
