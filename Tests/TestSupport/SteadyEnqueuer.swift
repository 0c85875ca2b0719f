import Postgres

/// Enqueues a named Noop task every 10 ms on a connection of its own, through whatever befalls the database,
/// reconnecting as the nodes do: each name (`PREFIX-N`) is tried once, and acknowledged when its insert's commit came
/// back, so that a test can tell what was promised from what was only tried.
public actor SteadyEnqueuer {
    public let prefix: String
    public private(set) var acknowledged: Set<String> = []

    public init(prefix: String) { self.prefix = prefix }

    /// Runs until its task is cancelled.
    public func run(url: String) async {
        var connection: Connection?
        var next = 0
        while !Task.isCancelled {
            if connection == nil { connection = try? await Connection.connect(ConnectionOptions(url)) }
            if let open = connection {
                next += 1
                let name = "\(prefix)-\(next)"
                do {
                    try await open.execute("INSERT INTO scheduler_task (task_type, name) VALUES ('Noop', \(name))")
                    acknowledged.insert(name)
                } catch let error as PostgresError where error.isConnectionError {
                    await open.close()
                    connection = nil
                } catch {
                    // Refused by a server that is up (its disk is full): the name was not enqueued.
                }
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        await connection?.close()
    }
}

extension SteadyEnqueuer {
    /// Waits until `count` more enqueues than now have been acknowledged. Only the machine's load decides how long that
    /// takes, so the default timeout is generous: beside every other suite in CI, 200 once took over 20 s.
    public nonisolated func waitForMore(_ count: Int, _ what: String, timeout: Duration = .seconds(90)) async throws {
        let target = await acknowledged.count + count
        try await waitUntil(what, timeout: timeout) { await self.acknowledged.count >= target }
    }
}
