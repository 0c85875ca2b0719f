import DaemonKit
import Foundation
import Testing

@Suite("Configuration file and environment", .timeLimit(.minutes(2)))
struct ConfigurationTests {
    private func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appending(path: "pgdaemon-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsNodeAndDatabaseAndLetsTheEnvironmentOverrideThem() throws {
        let path = try write("node: node-a\ndatabase: postgresql://pgdaemon@db/app\nmodules: {}\n")
        let fromFile = try Configuration.load(file: path, environment: [:])
        #expect(fromFile.node == "node-a")
        #expect(fromFile.database == "postgresql://pgdaemon@db/app")
        let overridden = try Configuration.load(
            file: path, environment: ["PGDAEMON_DATABASE_URL": "dbname=other", "PGDAEMON_NODE": "node-b"])
        #expect(overridden.node == "node-b")
        #expect(overridden.database == "dbname=other")
        let byOption = try Configuration.load(file: path, node: "node-c", environment: ["PGDAEMON_NODE": "node-b"])
        #expect(byOption.node == "node-c")
    }

    @Test func withoutAFileLibpqDefaultsAndTheHostNameApply() throws {
        let configuration = try Configuration.load(environment: [:])
        #expect(configuration.database == nil)
        #expect(!configuration.node.isEmpty)
    }

    @Test func anUnknownKeyIsNamedWithItsLine() throws {
        let path = try write("node: a\ndatabse: x\n")
        let error = #expect(throws: ConfigurationError.self) { try Configuration.load(file: path, environment: [:]) }
        #expect(error?.line == 2)
        #expect(error?.keyPath == "databse")
        #expect(error?.description.hasPrefix("\(path):2: databse: unknown key; expected one of") == true)
    }

    @Test func aSyntaxErrorNamesItsLine() throws {
        let path = try write("node: a\ndatabase: [unclosed\n")
        let error = #expect(throws: ConfigurationError.self) { try Configuration.load(file: path, environment: [:]) }
        #expect(error?.line != nil)
        #expect(error?.message.hasPrefix("not valid YAML") == true)
    }

    @Test func aWrongTypeIsNamed() throws {
        let path = try write("node:\n  - a\n")
        let error = #expect(throws: ConfigurationError.self) { try Configuration.load(file: path, environment: [:]) }
        #expect(error?.description == "\(path):2: node: expected a non-empty string")
    }

    @Test func aMissingFileIsAnError() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try Configuration.load(file: "/nonexistent/pgdaemon.yaml", environment: [:])
        }
        #expect(error?.message == "the file does not exist or cannot be read")
    }
}
