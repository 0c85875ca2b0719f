public import DaemonKit
import Hummingbird
import HummingbirdAuth
import Logging
import Scheduler
import ServiceLifecycle

/// The web console (`modules: Console: {}`): pages of the cluster, queues, tasks, cron entries and failures, and an
/// admin's actions on them, served on `console.listen` by a child process on every node that lists it, so the
/// supervisor stays small and a respawn re-reads the users.
///
/// One iteration serves until the module is asked to stop or `discard_after` has passed; the fresh process binds the
/// address again. All of its reads and writes share the module's one database session (`SerialDatabase`).
public final class Console: DaemonModule {
    public static let description = "Serves the web console on console.listen, for the users console.users names."
    /// An iteration lasts the process's lifetime: serving pages is not work that ends.
    public static var defaultMaxIteration: Duration? { nil }

    public let context: ModuleContext
    private let section: ConsoleSection
    private let routes: ConsoleRoutes

    public init(context: ModuleContext) async throws {
        self.context = context
        section = context.configuration.section(ConsoleSection.self)
        let database = SerialDatabase(context.database)
        let pages = try PageRenderer(
            base: section.basePath == "/" ? "" : section.basePath, node: context.node)
        routes = ConsoleRoutes(
            database: database,
            login: ConsoleLogin(
                users: section.users, timeout: section.sessionTimeout, pages: pages, logger: context.logger),
            pages: pages, cron: context.configuration.section(CronSection.self), logger: context.logger)
        if section.users.isEmpty {
            context.logger.warning("The console has no users: nobody can log in. Add some under console.users.")
        }
    }

    public func run() async throws -> ModuleStep {
        let router = Router(context: ConsoleContext.self)
        router.add(middleware: SecurityHeaders())
        router.add(
            middleware: SessionMiddleware(
                storage: CacheSessionStore(database: routes.database),
                configuration: SessionMiddlewareConfiguration(
                    sessionCookieParameters: SessionCookieParameters(
                        name: "pgdaemon_console", path: section.basePath, secure: section.secureCookie,
                        sameSite: .strict),
                    keyPrefix: "", defaultSessionExpiration: section.sessionTimeout)))
        routes.add(to: router)
        let listen = section.listen
        let application = Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(listen.host, port: Int(listen.port)), serverName: nil),
            logger: context.logger)
        // Serving ends gracefully (requests in flight finish) when the module is asked to stop or its process has
        // lived discard_after.
        let services = ServiceGroup(configuration: .init(services: [application], logger: context.logger))
        let stop = context.stop
        let lifetime = context.module.discardAfter
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            group.addTask {
                _ = try? await stop.sleep(for: lifetime)
                await services.triggerGracefulShutdown()
            }
            // A bind that fails throws here, and the group then cancels the sleep.
            try await group.waitForAll()
        }
        return .proceed
    }

    /// Serving does not pause between iterations.
    public func postRun() async throws -> ModuleStep { .proceed }
}

extension ModuleRegistry {
    /// The web console: its module, which a node runs when its `modules:` lists it, and its `console:` section.
    public static var console: ModuleRegistry {
        var registry = ModuleRegistry([Console.self])
        registry.register(section: ConsoleSection.self)
        return registry
    }
}
