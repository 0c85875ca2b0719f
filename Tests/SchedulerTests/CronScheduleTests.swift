import Foundation
import Scheduler
import Testing

@Suite("Cron expressions and their next slots")
struct CronScheduleTests {
    private static let utc = TimeZone(identifier: "UTC")!
    private static let berlin = TimeZone(identifier: "Europe/Berlin")!

    /// Expected times were computed independently with Python's zoneinfo.
    @Test(arguments: [
        ("*/15 * * * *", "UTC", 1_795_946_820, 1_795_947_300),  // 10:07 → 10:15
        ("*/10 * * * * *", "UTC", 1_795_946_405, 1_795_946_410),  // seconds field
        ("@hourly", "UTC", 1_795_946_820, 1_795_950_000),
        ("0 0 29 2 *", "UTC", 1_772_323_200, 1_835_395_200),  // 2026-03-01 → 2028-02-29
        ("0 9 * jan,JUL Mon-Fri", "UTC", 1_795_946_820, 1_798_794_000),  // → Friday 2027-01-01 09:00
        ("0 0 13 * FRI", "UTC", 1_795_946_820, 1_796_342_400),  // day fields ORed → Friday 2026-12-04
        ("30 2 * * *", "Asia/Kathmandu", 1_795_946_820, 1_795_985_100),  // +05:45
        // Spring forward in Berlin, 2026-03-29 02:00 → 03:00: a 02:30 entry runs once, right after the skip…
        ("30 2 * * *", "Europe/Berlin", 1_774_699_200, 1_774_746_000),
        // …and at 02:30 the day after.
        ("30 2 * * *", "Europe/Berlin", 1_774_746_000, 1_774_830_600),
        // Fall back, 2026-10-25 03:00 → 02:00: a 02:30 entry runs at the first 02:30 only.
        ("30 2 * * *", "Europe/Berlin", 1_792_843_200, 1_792_888_200),
        ("30 2 * * *", "Europe/Berlin", 1_792_888_200, 1_792_978_200),
        // An entry for every hour follows real time: 02:30 CEST, then 02:00 and 02:30 CET.
        ("*/30 * * * *", "Europe/Berlin", 1_792_887_300, 1_792_888_200),
        ("*/30 * * * *", "Europe/Berlin", 1_792_888_200, 1_792_890_000),
        ("*/30 * * * *", "Europe/Berlin", 1_792_890_000, 1_792_891_800),
    ])
    func nextSlot(expression: String, zone: String, after: Int, expected: Int) throws {
        let schedule = try CronSchedule(expression)
        let next = schedule.next(after: Date(timeIntervalSince1970: Double(after)), in: TimeZone(identifier: zone)!)
        #expect(next == Date(timeIntervalSince1970: Double(expected)))
    }

    @Test func everySecondForAMinuteHasNoGapAndNoRepeat() throws {
        let schedule = try CronSchedule("* * * * * *")
        var slot = Date(timeIntervalSince1970: 1_795_946_400)
        for _ in 0..<60 {
            let next = try #require(schedule.next(after: slot, in: Self.utc))
            #expect(next.timeIntervalSince(slot) == 1)
            slot = next
        }
    }

    @Test func aSlotThatNeverComesIsNil() throws {
        #expect(try CronSchedule("0 0 30 2 *").next(after: Date(), in: Self.utc) == nil)
    }

    @Test(arguments: [
        ("* * *", "it has 3 fields; expected 5 (minute hour day month weekday) or 6 (seconds first)"),
        ("61 * * * *", "the minute field \"61\" has 61, outside 0-59"),
        ("* 24 * * *", "the hour field \"24\" has 24, outside 0-23"),
        ("*/0 * * * *", "the minute field \"*/0\" has step \"0\"; a step is a whole number above 0"),
        ("5-1 * * * *", "the minute field \"5-1\" has range 5-1 running backwards"),
        ("* * * FOO *", "the month field \"FOO\" has \"FOO\", not a value"),
        ("* * * * 1-", "the day-of-week field \"1-\" has \"\", not a value"),
    ])
    func badExpressionsSayWhichFieldAndWhy(expression: String, reason: String) {
        let error = #expect(throws: CronError.self) { try CronSchedule(expression) }
        #expect(error?.reason == reason)
        #expect(error?.description == "\"\(expression)\" is not a cron expression: \(reason).")
    }

    @Test func unsupportedAliasesListTheSupportedOnes() {
        let error = #expect(throws: CronError.self) { try CronSchedule("@reboot") }
        #expect(error?.reason.hasPrefix("@reboot is not supported; use one of @annually, @daily") == true)
    }
}
