/// The values one field of a cron expression allows (0 to 63), as bits: reading 10,000 entries and stepping through
/// their slots tests and finds values without hashing.
struct CronField: Sendable, Equatable {
    private var bits: UInt64 = 0

    var isEmpty: Bool { bits == 0 }
    var count: Int { bits.nonzeroBitCount }

    func contains(_ value: Int) -> Bool { bits >> value & 1 == 1 }

    /// The smallest value above `value`, if any.
    func first(after value: Int) -> Int? {
        let later = bits & (UInt64.max << (value + 1))
        return later == 0 ? nil : later.trailingZeroBitCount
    }

    mutating func insert(_ values: StrideThrough<Int>) {
        for value in values { bits |= 1 << value }
    }

    /// The field with `value` read as `replacement` (a weekday of 7 as Sunday, 0).
    func folding(_ value: Int, into replacement: Int) -> CronField {
        guard contains(value) else { return self }
        var folded = self
        folded.bits = bits & ~(1 << value) | 1 << replacement
        return folded
    }
}
