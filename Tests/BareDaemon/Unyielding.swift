import DaemonKit

/// A module whose `run()` sleeps through a stop request, so that only the grace deadline of `ModuleProcess` ends it.
final class Unyielding: DaemonModule {
    static let description = "Sleeps in run() for an hour, whatever it is asked, until its work is cancelled."

    let context: ModuleContext

    init(context: ModuleContext) async throws {
        self.context = context
    }

    /// Says so before it sleeps: a stop that arrives earlier, during PreRun, would skip Run altogether.
    func run() async throws -> ModuleStep {
        context.logger.info("Sleeping in run().")
        try await Task.sleep(for: .seconds(3600))
        return .proceed
    }
}
