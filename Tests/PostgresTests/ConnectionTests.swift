import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Connections, errors, transactions and cancellation", .timeLimit(.minutes(2)))
struct ConnectionTests {
    @Test func serverErrorsCarrySQLStateDetailAndHint() async throws {
        try await withTestConnection(migrated: false) { connection in
            try await connection.execute("CREATE TABLE t (id int PRIMARY KEY)")
            try await connection.execute("INSERT INTO t VALUES (1)")
            let duplicate = await #expect(throws: PostgresError.self) {
                try await connection.execute("INSERT INTO t VALUES (\(1))")
            }
            #expect(duplicate?.code == .server)
            #expect(duplicate?.sqlState == PostgresError.SQLState.uniqueViolation)
            #expect(duplicate?.detail == "Key (id)=(1) already exists.")
            #expect(duplicate?.query == "INSERT INTO t VALUES ($1)")

            let syntax = await #expect(throws: PostgresError.self) { try await connection.execute("SELEC 1") }
            #expect(syntax?.sqlState == "42601")

            let raised = await #expect(throws: PostgresError.self) {
                try await connection.execute(
                    "DO $$ BEGIN RAISE EXCEPTION 'boom' USING DETAIL = 'the detail', HINT = 'the hint', ERRCODE = 'P0001'; END $$"
                )
            }
            #expect(raised?.sqlState == "P0001")
            #expect(raised?.message == "boom")
            #expect(raised?.detail == "the detail")
            #expect(raised?.hint == "the hint")
            #expect(raised?.description == "boom (SQLSTATE P0001) Hint: the hint")
            // The session is still usable after errors.
            #expect(try await connection.query("SELECT 1 AS one")[0].decode(Int.self, "one") == 1)
        }
    }

    @Test func applicationNameIsVisibleToTheDBA() async throws {
        try await withTestDatabase(migrated: false) { database in
            let connection = try await database.connect(applicationName: "pgdaemon/node-a/TestDaemon")
            let name = try await connection.query(
                "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")[0]
                .decode(String.self, "application_name")
            #expect(name == "pgdaemon/node-a/TestDaemon")
            await connection.close()
        }
    }

    @Test func aServerWithAnotherDateStyleStillYieldsDates() async throws {
        try await withTestDatabase(migrated: false) { database in
            var options = database.options
            options.connectionString = "\(database.connectionString) options='-c DateStyle=SQL,DMY'"
            let connection = try await Connection.connect(options)
            let row = try await connection.query(
                "SELECT current_setting('DateStyle') AS style, '2026-11-29 18:54:17.5+00'::timestamptz AS at")[0]
            #expect(try row.decode(String.self, "style") == "ISO, YMD")
            #expect(try row.decode(Date.self, "at") == Date(timeIntervalSince1970: 1_795_978_457.5))
            await connection.close()
        }
    }

    /// Over TCP the server's end of the session gets the client's keepalives: the defaults, or the URL's own.
    @Test func theServerSideKeepalivesFollowTheClientsOverTCP() async throws {
        try await withTestDatabase(migrated: false) { database in
            let port = ProcessInfo.processInfo.environment["PGPORT"] ?? "5432"
            for (extra, idle, timeout) in [
                ("", "10", "10000"), (" keepalives_idle=7 tcp_user_timeout=4000", "7", "4000"),
            ] {
                var options = database.options
                options.connectionString = "\(database.connectionString) host=127.0.0.1 port=\(port)\(extra)"
                let connection = try await Connection.connect(options)
                let row = try await connection.query(
                    "SELECT current_setting('tcp_keepalives_idle') AS idle, current_setting('tcp_user_timeout') AS timeout"
                )[0]
                #expect(try row.decode(String.self, "idle") == idle)
                #expect(try row.decode(String.self, "timeout") == timeout)
                await connection.close()
            }
        }
    }

    @Test func transactionsCommitAndRollBack() async throws {
        struct Planned: Error {}
        try await withTestConnection(migrated: false) { connection in
            try await connection.execute("CREATE TABLE t (id int PRIMARY KEY)")
            let inserted = try await connection.transaction { connection in
                try await connection.execute("INSERT INTO t VALUES (1)")
            }
            #expect(inserted == 1)
            await #expect(throws: Planned.self) {
                try await connection.transaction { connection in
                    try await connection.execute("INSERT INTO t VALUES (2)")
                    throw Planned()
                }
            }
            // A failed statement whose error the body swallowed must not look committed.
            let swallowed = await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    try await connection.execute("INSERT INTO t VALUES (3)")
                    _ = try? await connection.execute("INSERT INTO t VALUES (1)")
                }
            }
            #expect(swallowed?.sqlState == "25P02")
            let nested = await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    try await connection.transaction { _ in }
                }
            }
            #expect(nested?.code == .misuse)
            let ids = try await connection.query("SELECT id FROM t ORDER BY id").map { try $0.decode(Int.self, "id") }
            #expect(ids == [1])
            #expect(await connection.isInTransaction == false)
        }
    }

    @Test func cancellingTheTaskCancelsALongQuery() async throws {
        try await withTestConnection(migrated: false) { connection in
            let started = ContinuousClock.now
            let sleeper = Task { try await connection.query("SELECT pg_sleep(60)") }
            try await waitUntilActive(connection, query: "SELECT pg_sleep(60)")
            sleeper.cancel()
            let error = await #expect(throws: PostgresError.self) { try await sleeper.value }
            #expect(error?.sqlState == PostgresError.SQLState.queryCanceled)
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(try await connection.query("SELECT 2 AS two")[0].decode(Int.self, "two") == 2)
        }
    }

    @Test func pingNoticesATerminatedSessionAndReconnectRestoresIt() async throws {
        try await withTestDatabase(migrated: false) { database in
            let connection = try await database.connect()
            let admin = try await database.connect()
            #expect(await connection.ping())
            let pid = connection.backendPID
            try await admin.execute("SELECT pg_terminate_backend(\(pid))")
            #expect(await connection.ping() == false)
            let lost = await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
            #expect(lost?.isConnectionError == true)
            try await connection.reconnect()
            #expect(await connection.ping())
            #expect(connection.backendPID != pid)
            await connection.close()
            await admin.close()
            let closed = await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
            #expect(closed?.code == .closed)
        }
    }

    @Test func aFailedConnectionNamesTheReasonButNeverThePassword() async throws {
        for url in [
            "postgresql://app:Sup3rSecret%21@127.0.0.1:1/app?connect_timeout=2",
            "host=127.0.0.1 port=1 user=app password=Sup3rSecret! connect_timeout=2",
            "postgresql://app:Sup3rSecret!@127.0.0.1:%zz/app",
        ] {
            let error = await #expect(throws: PostgresError.self) {
                try await Connection.connect(ConnectionOptions(url))
            }
            let text = try #require(error).description
            #expect(!text.contains("Sup3rSecret"), "\(text)")
            #expect(!text.contains("\n"))
            #expect(error?.code == .connectionFailed)
        }
    }
}

/// Waits until the connection's backend is running `query`, so a test acts while it runs, not before.
func waitUntilActive(_ connection: Connection, query: String) async throws {
    let pid = connection.backendPID
    let observer = try await Connection.connect(ConnectionOptions(connection.options.connectionString))
    for _ in 0..<500 {
        let rows = try await observer.query(
            "SELECT 1 FROM pg_stat_activity WHERE pid = \(pid) AND state = 'active' AND query = \(query)")
        if !rows.isEmpty { return await observer.close() }
        try await Task.sleep(for: .milliseconds(10))
    }
    await observer.close()
    Issue.record("the statement never became active: \(query)")
}
