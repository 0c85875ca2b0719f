import Cache
import DaemonKit

/// Reads the key `greeting` of cache type `BareDaemon` every iteration, so that its process counts the cache's hits
/// and misses, which `/metrics` shows once the process has stored them.
final class CacheReader: DaemonModule {
    static let description = "Reads one cache key every iteration."

    let context: ModuleContext

    init(context: ModuleContext) async throws {
        self.context = context
    }

    func run() async throws -> ModuleStep {
        _ = try await Cache(connection: context.database).get(String.self, type: "BareDaemon", key: "greeting")
        return .proceed
    }
}
