import DaemonKit
import Testing

@Suite("Restart backoff and durations")
struct RestartBackoffTests {
    @Test func crashesInARowDoubleTheDelayUpToTheCap() {
        var backoff = RestartBackoff()
        let delays = (0..<12).map { _ in backoff.delay(afterCrashWithUptime: .seconds(1)) }
        #expect(delays.prefix(4) == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800)])
        #expect(delays.last == .seconds(30))
        #expect(delays.allSatisfy { $0 <= .seconds(30) })
    }

    @Test func aChildThatRanLongEnoughStartsTheCountAgain() {
        var backoff = RestartBackoff()
        for _ in 0..<5 { _ = backoff.delay(afterCrashWithUptime: .seconds(1)) }
        #expect(backoff.delay(afterCrashWithUptime: .seconds(120)) == .milliseconds(100))
        #expect(backoff.crashes == 1)
    }

    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)), ("2s", .seconds(2)), ("10m", .seconds(600)), ("1h", .seconds(3600)),
        ("1h30m", .seconds(5400)), ("1.5s", .milliseconds(1500)), ("2d", .seconds(172_800)),
    ])
    func durationsParse(text: String, duration: Duration) {
        #expect(DurationText.parse(text) == duration)
    }

    @Test(arguments: ["", "10", "5 minutes", "s", "1x", "-1s", "1h-"])
    func nonDurationsAreRefused(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test func durationsFormatShortest() {
        #expect(DurationText.format(.seconds(5400)) == "1h30m")
        #expect(DurationText.format(.milliseconds(500)) == "500ms")
        #expect(DurationText.format(.seconds(3600)) == "1h")
    }
}
