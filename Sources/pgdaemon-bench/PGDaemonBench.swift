import ArgumentParser

/// Drivers for `benchmarks/` that need the library or several sessions at once; each prints its figures as a JSON
/// line. The database comes from libpq's `PG*` variables.
@main
struct PGDaemonBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgdaemon-bench", abstract: "Benchmark drivers for benchmarks/; not part of the product.",
        subcommands: [CacheRate.self, NotifyClaimFloor.self])
}
