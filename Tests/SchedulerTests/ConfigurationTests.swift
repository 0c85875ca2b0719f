import Cache
import DaemonKit
import Foundation
import Scheduler
import TestSupport
import Testing

/// The modules and sections of the pgdaemon binary, which these configurations are read for.
let pgdaemonModules = ModuleRegistry.builtIn.adding(.scheduler())

@Suite("Configuration file and environment", .timeLimit(.minutes(2)))
struct ConfigurationTests {
    @Test func readsNodeAndDatabaseAndLetsTheEnvironmentOverrideThem() throws {
        try withTemporaryFile(holding: "node: node-a\ndatabase: postgresql://pgdaemon@db/app\nmodules: {}\n") { path in
            let fromFile = try Configuration.load(file: path, registry: pgdaemonModules, environment: [:])
            #expect(fromFile.node == "node-a")
            #expect(fromFile.database == "postgresql://pgdaemon@db/app")
            let overridden = try Configuration.load(
                file: path, registry: pgdaemonModules,
                environment: ["PGDAEMON_DATABASE_URL": "dbname=other", "PGDAEMON_NODE": "node-b"])
            #expect(overridden.node == "node-b")
            #expect(overridden.database == "dbname=other")
            let byOption = try Configuration.load(
                file: path, node: "node-c", registry: pgdaemonModules, environment: ["PGDAEMON_NODE": "node-b"])
            #expect(byOption.node == "node-c")
        }
    }

    @Test func withoutAFileLibpqDefaultsAndTheHostNameApply() throws {
        let configuration = try Configuration.load(registry: pgdaemonModules, environment: [:])
        #expect(configuration.database == nil)
        #expect(!configuration.node.isEmpty)
    }

    @Test func anUnknownKeyIsNamedWithItsLine() throws {
        try withTemporaryFile(holding: "node: a\ndatabse: x\n") { path in
            let error = #expect(throws: ConfigurationError.self) {
                try Configuration.load(file: path, registry: pgdaemonModules, environment: [:])
            }
            #expect(error?.line == 2)
            #expect(error?.keyPath == "databse")
            #expect(error?.description.hasPrefix("\(path):2: databse: unknown key; expected one of") == true)
        }
    }

    @Test func aSyntaxErrorNamesItsLine() throws {
        try withTemporaryFile(holding: "node: a\ndatabase: [unclosed\n") { path in
            let error = #expect(throws: ConfigurationError.self) {
                try Configuration.load(file: path, registry: pgdaemonModules, environment: [:])
            }
            #expect(error?.line != nil)
            #expect(error?.message.hasPrefix("not valid YAML") == true)
        }
    }

    @Test func aWrongTypeIsNamed() throws {
        try withTemporaryFile(holding: "node:\n  - a\n") { path in
            let error = #expect(throws: ConfigurationError.self) {
                try Configuration.load(file: path, registry: pgdaemonModules, environment: [:])
            }
            #expect(error?.description == "\(path):2: node: expected a non-empty string")
        }
    }

    @Test func aMissingFileIsAnError() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try Configuration.load(file: "/nonexistent/pgdaemon.yaml", registry: pgdaemonModules, environment: [:])
        }
        #expect(error?.message == "the file does not exist or cannot be read")
    }
}

/// The configuration in `text`, written to a file of its own and loaded without environment overrides.
private func loadConfiguration(_ text: String) throws -> Configuration {
    try withTemporaryFile(holding: text) { path in
        try Configuration.load(file: path, registry: pgdaemonModules, environment: [:])
    }
}

@Suite("Module, daemon and command entries")
struct ModuleConfigurationTests {
    private func error(_ text: String) -> ConfigurationError? {
        #expect(throws: ConfigurationError.self) { try loadConfiguration(text) }
    }

    @Test func modulesReadWithTheirDefaultsAndOverrides() throws {
        let configuration = try loadConfiguration(
            """
            modules:
              TestDaemon: { sleep_post: 500ms, discard_after: 10m }
              Quiet: { module: TestDaemon, valid: false, cluster: singleton }
            daemon: { pid_file: /tmp/x.pid, shutdown_timeout: 5s }
            commands:
              report: { argv: [/usr/local/bin/report, --daily], timeout: 10m }
            statements:
              purge: "DELETE FROM sessions WHERE expires < now()"
            """)
        #expect(configuration.modules.map(\.name) == ["TestDaemon", "Quiet"])
        #expect(configuration.modules[0].sleepPost == .milliseconds(500))
        #expect(configuration.modules[0].discardAfter == .seconds(600))
        #expect(configuration.modules[1].type == "TestDaemon")
        #expect(configuration.modules[1].cluster == .singleton)
        #expect(configuration.modules[1].sleepPost == .seconds(2), "the module type's default")
        #expect(configuration.validModules.map(\.name) == ["TestDaemon"])
        #expect(configuration.daemon.pidFile == "/tmp/x.pid")
        #expect(configuration.daemon.shutdownTimeout == .seconds(5))
        #expect(
            configuration.section(CommandsSection.self).commands["report"]?.argv == [
                "/usr/local/bin/report", "--daily",
            ])
        #expect(
            configuration.section(StatementsSection.self).statements["purge"]
                == "DELETE FROM sessions WHERE expires < now()")
    }

    @Test func anUnknownModuleListsTheRegisteredOnes() {
        let failure = error("modules:\n  Nope: {}\n")
        #expect(failure?.keyPath == "modules.Nope")
        #expect(failure?.line == 2)
        #expect(
            failure?.message
                == "unknown module Nope; registered modules: SchedulerCronTaskManager, SchedulerFutureTaskManager, "
                + "SchedulerTaskRescuer, SchedulerTaskWorker, TestDaemon")
    }

    @Test func anUnknownModuleSettingListsTheAcceptedOnes() {
        let failure = error("modules:\n  TestDaemon: { sleep_pots: 2s }\n")
        #expect(failure?.keyPath == "modules.TestDaemon.sleep_pots")
        #expect(
            failure?.message
                == "unknown key; expected one of cluster, discard_after, max_iteration, module, sleep_post, valid")
    }

    @Test func maxIterationAndTheSingletonLeaseReadWithTheirDefaults() throws {
        let configuration = try loadConfiguration(
            """
            modules:
              TestDaemon: { max_iteration: 30s }
              Quiet: { module: TestDaemon, max_iteration: none }
              SchedulerTaskWorker: {}
              SchedulerCronTaskManager: {}
            daemon: { singleton_lease: 30s }
            """)
        #expect(configuration.modules.map(\.maxIteration) == [.seconds(30), nil, nil, .seconds(300)])
        #expect(configuration.daemon.singletonLease == .seconds(30))
        #expect(try loadConfiguration("modules:\n  TestDaemon: {}\n").daemon.singletonLease == .seconds(10))
        let short = error("daemon: { singleton_lease: 4s }\n")
        #expect(short?.keyPath == "daemon.singleton_lease")
        #expect(
            short?.message
                == "4s is too short: a lease must last longer than 4s, twice the holder's renewal interval")
        #expect(
            error("modules:\n  TestDaemon: { max_iteration: soon }\n")?.keyPath == "modules.TestDaemon.max_iteration")
    }

    @Test func aBadDurationSaysWhichAndWhy() {
        let failure = error("modules:\n  TestDaemon:\n    sleep_post: soon\n")
        #expect(failure?.line == 3)
        #expect(failure?.keyPath == "modules.TestDaemon.sleep_post")
        #expect(failure?.message == "\"soon\" is not a duration; write it like 500ms, 2s, 10m or 1h")
    }

    @Test func argvMustBeAList() {
        let failure = error("commands:\n  report: { argv: /usr/local/bin/report }\n")
        #expect(failure?.keyPath == "commands.report.argv")
        #expect(failure?.message.hasPrefix("expected a non-empty list") == true)
    }

    @Test func wrongTypesAreNamed() {
        #expect(error("modules:\n  TestDaemon: { valid: sometimes }\n")?.message == "expected true or false")
        #expect(
            error("modules:\n  TestDaemon: { cluster: everywhere }\n")?.message
                == "expected every-node or singleton, not \"everywhere\"")
        #expect(error("daemon: { pidfile: x }\n")?.keyPath == "daemon.pidfile")
    }
}

@Suite("Cron entries in the configuration")
struct CronConfigurationTests {
    @Test func entriesReadWithTheirTaskAndDefaults() throws {
        let configuration = try loadConfiguration(
            """
            cron:
              nightly: { schedule: "0 2 * * *", timezone: Europe/Berlin, catch_up: skip, queue: reports,
                         overlap: allow, task: { type: Command, data: { command: report }, priority: 5 } }
              tick: { schedule: "@hourly", task: { type: Noop } }
            """)
        #expect(configuration.section(CronSection.self).entries.map(\.name) == ["nightly", "tick", "cache-cleanup"])
        #expect(configuration.section(CronSection.self).entries[0].timeZone.identifier == "Europe/Berlin")
        #expect(configuration.section(CronSection.self).entries[0].catchUp == .skip)
        #expect(configuration.section(CronSection.self).entries[0].taskDataJSON == #"{"command":"report"}"#)
        #expect(configuration.section(CronSection.self).entries[0].priority == 5)
        #expect(configuration.section(CronSection.self).entries[1].timeZone == TimeZone(identifier: "UTC"))
        #expect(configuration.section(CronSection.self).entries[1].catchUp == .once)
        #expect(configuration.section(CronSection.self).entries[1].taskDataJSON == "{}")
        #expect(configuration.section(CronSection.self).entries.map(\.queue) == ["reports", "default", "default"])
        #expect(configuration.section(CronSection.self).entries.map(\.overlap) == [.allow, .skip, .skip])
    }

    /// Nodes compare this hash to see whether they run the same shared sections: formatting, key order and the
    /// node's own settings do not count; a changed value does.
    @Test func theSharedHashIgnoresFormattingButNotValues() throws {
        let first = try loadConfiguration(
            """
            node: a
            modules: { TestDaemon: { sleep_post: 2s }, Idle: { module: TestDaemon } }
            cron: { tick: { schedule: "* * * * *", task: { type: Noop, data: { x: "1" } } } }
            """)
        let reformatted = try loadConfiguration(
            """
            cron:
              tick:
                task: { data: { x: '1' }, type: Noop }
                schedule: '* * * * *'
            modules:
              Idle:
                module: TestDaemon
              TestDaemon: { sleep_post: 2s }
            node: b
            """)
        let changed = try loadConfiguration(
            """
            node: a
            modules: { TestDaemon: { sleep_post: 3s }, Idle: { module: TestDaemon } }
            cron: { tick: { schedule: "* * * * *", task: { type: Noop, data: { x: "1" } } } }
            """)
        #expect(first.hash == reformatted.hash)
        #expect(first.hash != changed.hash)
        #expect(first.hash != "-")
    }

    /// Task data written in YAML keeps its types in JSON: YAML 1.1 numbers, booleans and null; quoted text stays
    /// text.
    @Test func taskDataKeepsItsYAMLTypes() throws {
        let configuration = try loadConfiguration(
            """
            cron:
              typed:
                schedule: "@hourly"
                task:
                  type: Noop
                  data: { n: 3, hex: 0x1F, x: 1.5, big: 1_000, a: yes, b: False, c: OFF, d: true, none: null,
                          tilde: ~, quoted: "true", word: hello, mixed: tRUE, list: [1, on, "2"] }
            """)
        let data = try JSONSerialization.jsonObject(
            with: Data(configuration.section(CronSection.self).entries[0].taskDataJSON.utf8))
        let object = try #require(data as? [String: Any])
        #expect(object["n"] as? Int == 3)
        #expect(object["hex"] as? Int == 31)
        #expect(object["x"] as? Double == 1.5)
        #expect(object["big"] as? Int == 1000)
        #expect(object["a"] as? Bool == true && object["b"] as? Bool == false)
        #expect(object["c"] as? Bool == false && object["d"] as? Bool == true)
        #expect(object["none"] is NSNull && object["tilde"] is NSNull)
        #expect(object["quoted"] as? String == "true")
        #expect(object["word"] as? String == "hello" && object["mixed"] as? String == "tRUE")
        let list = try #require(object["list"] as? [Any])
        #expect(list[0] as? Int == 1 && list[1] as? Bool == true && list[2] as? String == "2")
    }

    @Test func aBadExpressionSaysWhichAndWhy() {
        let error = #expect(throws: ConfigurationError.self) {
            try loadConfiguration("cron:\n  nightly:\n    schedule: \"0 25 * * *\"\n    task: { type: Noop }\n")
        }
        #expect(error?.line == 3)
        #expect(error?.keyPath == "cron.nightly.schedule")
        #expect(
            error?.message == "\"0 25 * * *\" is not a cron expression: the hour field \"25\" has 25, outside 0-23.")
    }

    @Test func aBadTimeZoneOrMissingTaskIsNamed() {
        let zone = #expect(throws: ConfigurationError.self) {
            try loadConfiguration(
                "cron:\n  x: { schedule: \"@daily\", timezone: Mars/Olympus, task: { type: Noop } }\n")
        }
        #expect(zone?.message == "\"Mars/Olympus\" is not a time zone such as Europe/Berlin")
        let task = #expect(throws: ConfigurationError.self) {
            try loadConfiguration("cron:\n  x: { schedule: \"@daily\" }\n")
        }
        #expect(task?.message == "missing task")
        let overlap = #expect(throws: ConfigurationError.self) {
            try loadConfiguration("cron:\n  x: { schedule: \"@daily\", overlap: never, task: { type: Noop } }\n")
        }
        #expect(overlap?.keyPath == "cron.x.overlap")
        #expect(overlap?.message == "expected skip, queue or allow, not \"never\"")
    }

    @Test func cacheCleanupRunsByDefaultUnlessReplacedOrSwitchedOff() throws {
        let defaults = try Configuration.load(registry: pgdaemonModules, environment: [:])
        #expect(defaults.section(CronSection.self).entries.map(\.name) == ["cache-cleanup"])
        #expect(defaults.section(CronSection.self).entries[0].taskType == "CacheCleanup")
        #expect(defaults.section(CronSection.self).entries[0].schedule == (try CronSchedule("*/5 * * * *")))
        let replaced = try loadConfiguration(
            "cron:\n  cache-cleanup: { schedule: \"* * * * *\", task: { type: CacheCleanup } }\n")
        #expect(replaced.section(CronSection.self).entries.count == 1)
        #expect(replaced.section(CronSection.self).entries[0].schedule == (try CronSchedule("* * * * *")))
        #expect(try loadConfiguration("cron:\n  cache-cleanup: false\n").section(CronSection.self).entries.isEmpty)
    }
}

@Suite("Cache settings in the configuration")
struct CacheConfigurationTests {
    @Test func limitsAndPersistenceRead() throws {
        let configuration = try loadConfiguration(
            """
            cache:
              logged: true
              limits:
                Sessions: { max_entries: 1000, max_bytes: 64MB }
                Pages: { max_bytes: 4096 }
            """)
        #expect(configuration.section(CacheSettings.self).logged == true)
        #expect(
            configuration.section(CacheSettings.self).limits["Sessions"]
                == CacheLimit(maxEntries: 1000, maxBytes: 64 << 20))
        #expect(configuration.section(CacheSettings.self).limits["Pages"] == CacheLimit(maxBytes: 4096))
        #expect(
            try loadConfiguration("node: a\n").section(CacheSettings.self).logged == nil,
            "without the key the table is left as it is")
    }

    @Test func badLimitsAreNamed() {
        func message(_ text: String) -> String? {
            (#expect(throws: ConfigurationError.self) { try loadConfiguration(text) })?.description
        }
        #expect(
            message("cache:\n  limits:\n    S: { max_bytes: lots }\n")?.hasSuffix(
                ":3: cache.limits.S.max_bytes: \"lots\" is not a size; write it like 65536, 512kB, 64MB or 1GB") == true
        )
        #expect(
            message("cache:\n  limits:\n    S: { max_entries: 0 }\n")?.hasSuffix(
                "cache.limits.S.max_entries: expected a whole number above 0") == true)
        #expect(
            message("cache:\n  limits:\n    S: {}\n")?.hasSuffix(
                "cache.limits.S: expected max_entries, max_bytes or both") == true)
        #expect(
            message("cache:\n  loged: true\n")?.hasSuffix(
                "cache.loged: unknown key; expected one of limits, logged") == true)
    }
}

@Suite("Queues in the configuration")
struct QueueConfigurationTests {
    @Test func queuesReadWithTheirLimits() throws {
        let configuration = try loadConfiguration(
            """
            queues:
              default: { per_node: 10 }
              mail: { per_node: 2, limit: 4, rate: 100/1m }
              reports: { per_node: 1, key_limit: 1 }
            """)
        let queues = configuration.section(QueuesSection.self).queues
        #expect(queues["default"] == QueuesSection.Queue(perNode: 10))
        #expect(
            queues["mail"] == QueuesSection.Queue(perNode: 2, limit: 4, rate: .init(count: 100, period: .seconds(60))))
        #expect(queues["reports"] == QueuesSection.Queue(perNode: 1, keyLimit: 1))
        #expect(try loadConfiguration("node: a\n").section(QueuesSection.self).queues.isEmpty)
    }

    @Test(arguments: [
        ("queues:\n  mail: { rate: fast }\n", "queues.mail.rate", "\"fast\" is not a rate; write it like 100/1m"),
        ("queues:\n  mail: { rate: 0/1m }\n", "queues.mail.rate", "\"0/1m\" is not a rate"),
        ("queues:\n  mail: { per_node: 0 }\n", "queues.mail.per_node", "expected a whole number above 0"),
        ("queues:\n  mail: { limt: 3 }\n", "queues.mail.limt", "unknown key; expected one of key_limit, limit"),
    ])
    func badQueueSettingsAreNamed(text: String, keyPath: String, message: String) {
        let failure = #expect(throws: ConfigurationError.self) { try loadConfiguration(text) }
        #expect(failure?.keyPath == keyPath)
        #expect(failure?.line == 2)
        #expect(failure?.message.hasPrefix(message) == true, "\(String(describing: failure?.message))")
    }
}
