import Postgres

/// Adds what a module process counted in memory (the registered `CounterSource`s) to `daemon_counter`,
/// every `interval` and once more when the module ends, on the module's connection. Counts that could not be stored
/// wait for the next flush; a kill -9 loses at most one interval's.
struct CounterFlusher: Sendable {
    static let interval = Duration.seconds(10)

    let database: Connection
    let node: String
    let module: String
    let sources: [CounterSource]

    func flush() async {
        let taken = sources.map { $0.take() }
        let rows = taken.joined().filter { $0.value > 0 }
        guard !rows.isEmpty else { return }
        do {
            try await database.execute(
                """
                INSERT INTO daemon_counter AS c (node, module, name, label, value)
                SELECT \(node), \(module), r.name, r.label, r.value
                FROM jsonb_to_recordset(\(try PostgresJSON(rows))::jsonb) AS r(name text, label text, value bigint)
                ON CONFLICT (node, module, name, label) DO UPDATE SET value = c.value + EXCLUDED.value
                """)
        } catch {
            for (source, counts) in zip(sources, taken) { source.putBack(counts) }
        }
    }

    /// Flushes every `interval` until cancelled.
    func flushPeriodically() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.interval)
            if !Task.isCancelled { await flush() }
        }
    }
}
