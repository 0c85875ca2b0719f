import Foundation

/// How long before a batch of cron slots the manager starts preparing it, so that the batch's transaction is ready
/// to commit when the slots come and their tasks appear on time, not a preparation later.
///
/// Learned from the last batch: twice its preparation, scaled up for a larger batch (never down, as a batch has a
/// fixed cost too), plus a margin for the wake-up. Capped at the on-time tolerance: the prepared transaction holds its
/// entries' rows locked meanwhile, so `cron pause` and `cron run` of them wait up to that long.
struct CronLead {
    static let margin = Duration.milliseconds(50)
    static let longest = Duration.seconds(2)

    /// The last batch's preparation and its number of slots; before any, a guess of 0.2 ms a slot.
    private var preparation = Duration.microseconds(200)
    private var slots = 1

    /// The lead, in seconds, for the batch of the entries' `slots` that fall at `batch`.
    func seconds(for slots: [Date?], at batch: Date) -> TimeInterval {
        let scale = max(1, Double(slots.count { $0 == batch }) / Double(self.slots))
        return min(Self.longest, Self.margin + preparation * (2 * scale)) / .seconds(1)
    }

    /// Learns from a batch of `slots` slots that took `preparation` until it could commit.
    mutating func learn(preparation: Duration, slots: Int) {
        guard slots > 0 else { return }
        self.preparation = preparation
        self.slots = slots
    }
}
