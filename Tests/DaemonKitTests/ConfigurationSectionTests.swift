import DaemonKit
import Foundation
import TestSupport
import Testing

/// A library's own section, as the scheduler and the cache declare theirs.
private struct ReportSettings: ConfigurationSection, Equatable {
    static let key = "reports"
    var folder = "/var/reports"
    var every = Duration.seconds(3600)

    init() {}

    init(_ value: ConfigurationValue) throws {
        for pair in try value.pairs(allowed: ["folder", "every"]) {
            if pair.key == "folder" { folder = try pair.value.string() } else { every = try pair.value.duration() }
        }
    }
}

@Suite("Configuration sections that libraries register")
struct ConfigurationSectionTests {
    private func load(_ text: String, registry: ModuleRegistry) throws -> Configuration {
        try withTemporaryFile(holding: text) { path in
            try Configuration.load(file: path, registry: registry, environment: [:])
        }
    }

    private static var withReports: ModuleRegistry {
        var registry = ModuleRegistry.builtIn
        registry.register(section: ReportSettings.self)
        return registry
    }

    @Test func aRegisteredSectionIsReadAndDefaultsWhenAbsent() throws {
        let configuration = try load("reports: { folder: /srv/r, every: 10m }\n", registry: Self.withReports)
        #expect(configuration.section(ReportSettings.self).folder == "/srv/r")
        #expect(configuration.section(ReportSettings.self).every == .seconds(600))
        #expect(try load("node: a\n", registry: Self.withReports).section(ReportSettings.self) == ReportSettings())
    }

    @Test func anUnregisteredSectionIsAnUnknownKeyListingTheRegisteredOnes() throws {
        let error = #expect(throws: ConfigurationError.self) { try load("reports: {}\n", registry: .builtIn) }
        #expect(
            error?.description.contains("reports: unknown key; expected one of daemon, database, modules, node") == true
        )
        let listed = #expect(throws: ConfigurationError.self) { try load("report: {}\n", registry: Self.withReports) }
        #expect(listed?.description.contains("expected one of daemon, database, modules, node, reports") == true)
    }

    @Test func aSectionsErrorNamesFileLineAndKey() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try load("node: a\nreports:\n  every: soon\n", registry: Self.withReports)
        }
        #expect(error?.line == 3)
        #expect(
            error?.description.contains("reports.every: \"soon\" is not a duration") == true,
            "\(String(describing: error))")
    }

    @Test func aSharedSectionCountsInTheHash() throws {
        let one = try load("node: a\nreports: { folder: /a }\n", registry: Self.withReports)
        let other = try load("node: b\nreports: { folder: /b }\n", registry: Self.withReports)
        let same = try load("node: c\nreports:\n  folder: /a\n", registry: Self.withReports)
        #expect(one.hash != other.hash)
        #expect(one.hash == same.hash, "the node's name and formatting do not count")
    }
}
