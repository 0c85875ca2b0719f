import Foundation
import Testing

@testable import Postgres

@Suite("Timestamp text", .timeLimit(.minutes(2)))
struct PostgresTimestampTests {
    @Test(arguments: [
        ("1970-01-01 00:00:00+00", 0.0),
        ("2026-11-29 18:54:17.123456+00", 1_795_978_457.123456),
        ("2026-11-29 20:54:17.5+02", 1_795_978_457.5),
        ("2026-11-29 13:09:17-05:45", 1_795_978_457),
        ("1900-01-01 00:19:32+00:19:32", -2_208_988_800),
        ("2000-02-29 00:00:00", 951_782_400),
        ("0044-03-15 12:00:00+00 BC", -63_517_780_800),
        ("12345-01-01 00:00:00+00", 327_403_382_400),
    ])
    func parses(text: String, seconds: Double) {
        let date = PostgresTimestamp.parse(text)
        #expect(
            date.map { abs($0.timeIntervalSince1970 - seconds) < 0.000_001 } == true,
            "\(text) → \(String(describing: date))")
    }

    @Test(arguments: [
        "", "2026-11-29", "2026-13-01 00:00:00+00", "2026-11-29 18:54:17+0", "2026-11-29T18:54:17Z", "now",
    ])
    func rejects(text: String) {
        #expect(PostgresTimestamp.parse(text) == nil)
    }

    @Test func formatsInUTCWithMicroseconds() {
        #expect(
            PostgresTimestamp.format(Date(timeIntervalSince1970: 1_795_978_457.123456))
                == "2026-11-29 18:54:17.123456+00")
        #expect(PostgresTimestamp.format(Date(timeIntervalSince1970: -1)) == "1969-12-31 23:59:59.000000+00")
        #expect(
            PostgresTimestamp.format(Date(timeIntervalSince1970: -63_517_780_800)) == "0044-03-15 12:00:00.000000+00 BC"
        )
    }

    @Test func formatsLogTimestampsAsFoundationsISO8601StyleDoes() {
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        for seconds in [0, 1_795_978_457.123456, 951_782_399.5, -1, 4_102_444_800.25] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(PostgresTimestamp.iso8601(date) == date.formatted(style), "\(seconds)")
        }
    }

    @Test func civilDaysRoundTripOverFourCenturies() {
        for days in stride(from: Int64(-800_000), through: 800_000, by: 997) {
            let (year, month, day) = PostgresTimestamp.civil(fromDays: days)
            #expect(PostgresTimestamp.days(fromCivil: year, month, day) == days)
        }
    }
}
