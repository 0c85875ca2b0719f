import DaemonKit
import Foundation
import Scheduler
import Testing

/// Random input for the two parsers that read what people write: the cron parser and the configuration loader. Each
/// input must either be read or be refused with its own error type and a one-line message; a crash, a hang (the
/// suite's time limit) or another error type fails. The generator is seeded, so a failure names the input that
/// reproduces it. Each loop yields often: on this machine's two cooperative threads, two tests that ran tens of
/// seconds without a pause held up every other test, whose waits for a daemon then timed out. The time limit is twice
/// the others': the loader's 2,000 files take 6-20 s alone, and took over 2 minutes among the process tests in a CI run.
@Suite("Fuzzing the cron parser and the configuration loader", .timeLimit(.minutes(4)))
struct FuzzTests {
    /// SplitMix64: small, fast, and the same sequence for the same seed on every platform.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let cronTokens = [
        "*", "*", "/", "-", ",", " ", " ", "0", "1", "2", "5", "7", "12", "23", "24", "29", "31", "32", "59", "60",
        "61", "99", "4294967296", "99999999999999999999", "-1", "MON", "sun", "Jan", "DEC", "FOO", "L", "W", "#", "?",
        "@daily", "@hourly", "@every", "@", "é", "٣", "\t", "\u{0}", "0/0", "*/0", "1-0", "59-0", "*/60", "7-0",
    ]
    static let fieldTokens = [
        "*", "*", "*", "*/2", "*/15", "0", "1", "5", "1-5", "10-20/3", "MON-FRI", "JAN", "sat", "7", "0-59/7", "31",
        "60", "5-1", "*/0",
    ]
    static let zones = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
        .compactMap(TimeZone.init(identifier:))

    @Test func theCronParserReadsOrRefusesAnyExpression() async throws {
        var random = Generator(state: 20_261_130)
        var parsed = 0
        let start = Date(timeIntervalSince1970: 1_711_846_800)  // 2024-03-31 01:00 UTC, the EU spring-forward day
        for round in 0..<20_000 {
            if round % 100 == 0 { await Task.yield() }
            // Half of them have the shape of an expression (five or six fields of tokens), half are token soup.
            let expression =
                Bool.random(using: &random)
                ? (0..<Int.random(in: 5...6, using: &random)).map { _ in
                    (0..<Int.random(in: 1...3, using: &random)).map { _ in
                        Self.fieldTokens.randomElement(using: &random)!
                    }.joined(separator: ",")
                }.joined(separator: " ")
                : (0..<Int.random(in: 1...12, using: &random))
                    .map { _ in Self.cronTokens.randomElement(using: &random)! }.joined()
            do {
                let schedule = try CronSchedule(expression)
                parsed += 1
                let zone = Self.zones.randomElement(using: &random)!
                var date = start
                for _ in 0..<3 {
                    guard let next = schedule.next(after: date, in: zone) else { break }
                    #expect(next > date, "\(String(reflecting: expression)) in \(zone.identifier) after \(date)")
                    date = next
                }
            } catch {
                #expect(!error.description.contains("\n"), "\(String(reflecting: expression)): \(error)")
            }
        }
        #expect(parsed > 100, "the generator also makes valid expressions")
    }

    static let validConfiguration = """
        node: fuzz-node
        database: postgresql://pgdaemon@localhost/app
        daemon: { shutdown_timeout: 5s, log_dir: /tmp/pgdaemon-fuzz-log }
        modules:
          TestDaemon: { sleep_post: 2s }
          Clock: { module: TestDaemon, cluster: singleton, sleep_post: 100ms, discard_after: 1h }
        cron:
          nightly: { schedule: "0 2 * * *", task: { type: Noop }, timezone: Europe/Berlin, catch_up: once }
          often: { schedule: "*/5 * * * * *", task: { type: Sleep, data: { seconds: 1 } } }
        commands:
          report: { argv: [/bin/echo, hello], timeout: 30s }
        cache:
          logged: false
          limits: { Reports: { max_entries: 100, max_bytes: 64MB } }

        """
    static let yamlCharacters = Array(":{}[]-,#&*!|>'\"%@`? \n\t\\0123456789abcxyzé\u{0}\u{1B}")

    @Test func theConfigurationLoaderReadsOrRefusesAnyFile() async throws {
        var random = Generator(state: 42)
        let path = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-fuzz-\(UUID().uuidString).yaml")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.validConfiguration.write(toFile: path, atomically: false, encoding: .utf8)
        _ = try Configuration.load(file: path, registry: pgdaemonModules, environment: [:])
        var refused = 0
        for _ in 0..<2_000 {
            await Task.yield()
            var text = Array(Self.validConfiguration)
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0..<text.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: text.removeSubrange(at..<min(text.count, at + Int.random(in: 1...8, using: &random)))
                case 1: text.insert(Self.yamlCharacters.randomElement(using: &random)!, at: at)
                case 2: text[at] = Self.yamlCharacters.randomElement(using: &random)!
                default: text.insert(contentsOf: text[at..<min(text.count, at + 20)], at: at)
                }
                if text.isEmpty { text = ["x"] }
            }
            let file = String(text)
            try file.write(toFile: path, atomically: false, encoding: .utf8)
            do {
                _ = try Configuration.load(file: path, registry: pgdaemonModules, environment: [:])
            } catch let error as ConfigurationError {
                refused += 1
                #expect(!error.description.contains("\n"), "\(String(reflecting: file)): \(error)")
                #expect(error.description.hasPrefix(path), "\(error)")
            } catch {
                Issue.record("\(String(reflecting: file)) threw \(type(of: error)): \(error)")
            }
        }
        #expect(refused > 500, "most mutations break the file")
    }
}
