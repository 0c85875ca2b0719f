import Foundation

/// A unit of daemon work, run by the supervisor in a process of its own: the seed's PreRun / Run / PostRun / Summary.
///
/// The supervisor starts one child process per configured module. The child creates the module, then loops
/// `preRun()`, `run()`, `postRun()` until one of them returns `.discard` or throws, or until `discard_after` has
/// passed; then the process exits and the supervisor starts a fresh one at once, which frees memory and re-reads the
/// configuration. A thrown error is logged and recorded; a discard is not an error.
///
/// ```swift
/// final class Heartbeat: DaemonModule {
///     static let description = "Writes a heartbeat row every few seconds."
///     let context: ModuleContext
///     init(context: ModuleContext) async throws { self.context = context }
///     func run() async throws -> ModuleStep {
///         try await context.database.execute("UPDATE app_heartbeat SET at = now()")
///         return .proceed
///     }
/// }
/// ```
///
/// The defaults give the seed's behaviour: `preRun()` waits, backing off, while the database does not answer;
/// `postRun()` sleeps `sleep_post`. Shared state lives in the database, never in memory, so that every node and the
/// `summary` command see the same thing.
public protocol DaemonModule: AnyObject, SendableMetatype {
    /// One sentence for `pgdaemon modules`.
    static var description: String { get }
    /// Where it runs when the configuration does not say; default `.everyNode`.
    static var defaultCluster: ClusterMode { get }
    /// The pause after each iteration when the configuration does not say; default 1 s.
    static var defaultSleepPost: Duration { get }
    /// How long one iteration may run when the configuration does not say (`max_iteration`); `nil` for a module
    /// whose iteration lasts as long as its work keeps coming (the task worker's). Default 5 minutes.
    static var defaultMaxIteration: Duration? { get }
    /// The module's own settings, beyond the common ones; any other key in its configuration entry is an error.
    static var settings: [ModuleSetting] { get }

    /// Its node, settings, database connection and logger; the default steps use it too.
    var context: ModuleContext { get }

    /// Creates the module for one process lifetime.
    init(context: ModuleContext) async throws
    /// Checks before work; `.discard` ends the process.
    func preRun() async throws -> ModuleStep
    /// One iteration of the work.
    func run() async throws -> ModuleStep
    /// After the work: sleeps `sleep_post` by default.
    func postRun() async throws -> ModuleStep
    /// Tables for `pgdaemon summary`, read from shared state: it runs in the CLI, on any node, not in the module.
    static func summary(_ context: SummaryContext) async throws -> [SummaryTable]
}

extension DaemonModule {
    public static var defaultCluster: ClusterMode { .everyNode }
    public static var defaultSleepPost: Duration { .seconds(1) }
    public static var defaultMaxIteration: Duration? { .seconds(300) }
    public static var settings: [ModuleSetting] { [] }

    public func preRun() async throws -> ModuleStep {
        try await context.waitForDatabase()
        return .proceed
    }

    public func postRun() async throws -> ModuleStep {
        try await context.sleepPost()
        return .proceed
    }

    public static func summary(_ context: SummaryContext) async throws -> [SummaryTable] { [] }
}

/// What a module step decides.
public enum ModuleStep: Sendable, Equatable {
    /// Go on to the next step.
    case proceed
    /// End this process; the supervisor starts a fresh one at once.
    case discard(reason: String)
}

/// Where a module runs in the cluster.
public enum ClusterMode: String, Sendable, Codable, CaseIterable {
    /// On each node.
    case everyNode = "every-node"
    /// On exactly one node at a time, held by an advisory lock.
    case singleton
}

/// A setting a module accepts in its configuration entry.
public struct ModuleSetting: Sendable {
    public enum Kind: String, Sendable {
        case integer, duration, string, boolean
    }

    public var name: String
    public var kind: Kind
    /// One sentence for `pgdaemon modules` and error messages, stating the default.
    public var help: String

    public init(_ name: String, _ kind: Kind, help: String) {
        self.name = name
        self.kind = kind
        self.help = help
    }
}
