import Cache

/// `CacheCleanup`: removes expired cache entries, then keeps each type of `cache.limits` within its bound. The default
/// cron entry `cache-cleanup` runs it every five minutes. Data `{"type": "T"}` cleans one type only.
public struct CacheCleanupHandler: TaskHandler {
    public struct Payload: Decodable, Sendable {
        public var type: String?
    }

    public static let type = "CacheCleanup"
    public static let timeout: Duration = .seconds(600)
    public init() {}

    public func run(_ payload: Payload, context: TaskContext) async throws {
        let sweep = try await Cache(connection: context.database).sweep(
            limits: context.configuration.section(CacheSettings.self).limits, type: payload.type)
        context.output.append("Removed \(sweep.expired) expired and \(sweep.overLimit) over-limit cache entries.\n")
    }
}
