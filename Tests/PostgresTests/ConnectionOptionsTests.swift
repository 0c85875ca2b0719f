import Testing

@testable import Postgres

@Suite("Connection options", .timeLimit(.minutes(2)))
struct ConnectionOptionsTests {
    private func parameters(_ options: ConnectionOptions) throws -> [String: String] {
        Dictionary(try options.parameters(), uniquingKeysWith: { _, last in last })
    }

    @Test func keepaliveAndTimeoutDefaultsAreAddedWhereTheStringSetsNone() throws {
        let given = try parameters(ConnectionOptions("postgresql://app@db.example/app"))
        #expect(given["keepalives"] == "1")
        #expect(given["keepalives_idle"] == "10")
        #expect(given["keepalives_interval"] == "5")
        #expect(given["keepalives_count"] == "3")
        #expect(given["connect_timeout"] == "10")
        #expect(given["tcp_user_timeout"] == "10000")
        #expect(given["host"] == "db.example")
        #expect(given["fallback_application_name"] == "pgdaemon")
    }

    @Test func theStringsOwnSettingsWinExceptTheApplicationName() throws {
        let options = ConnectionOptions(
            "host=db keepalives_idle=30 connect_timeout=3 application_name=theirs options='-c work_mem=64MB'",
            applicationName: "pgdaemon/a/b")
        let given = try parameters(options)
        #expect(given["keepalives_idle"] == "30")
        #expect(given["connect_timeout"] == "3")
        #expect(given["application_name"] == "pgdaemon/a/b")
        #expect(given["options"] == "-c work_mem=64MB")
    }

    @Test(arguments: [
        "postgresql://app:Sup3r%40Secret@db/app",
        "postgres://app:Sup3r@Secret@db:5432/app?sslmode=require",
        "host=db user=app password=Sup3r@Secret",
        "host=db password='Sup3r@Secret' user=app",
    ])
    func redactionHidesThePassword(connectionString: String) {
        let options = ConnectionOptions(connectionString)
        #expect(!options.redacted.contains("Secret"), "\(options.redacted)")
        #expect(!options.redact("failed for \(connectionString)").contains("Secret"))
    }

    @Test func libpqMessagesBecomeOneLine() {
        let message =
            "connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n"
            + "\tIs the server running on that host and accepting TCP/IP connections?\n"
        #expect(
            message.oneLine == "connection to server at \"127.0.0.1\", port 1 failed: Connection refused. "
                + "Is the server running on that host and accepting TCP/IP connections?")
    }

    @Test func anUnparseableStringIsAnErrorWithoutItsPassword() {
        let error = #expect(throws: PostgresError.self) {
            try ConnectionOptions("postgresql://app:Sup3rSecret@db:%zz/app").parameters()
        }
        #expect(error?.message.hasPrefix("Invalid connection string") == true)
        #expect(error?.message.contains("Sup3rSecret") == false)
    }
}
