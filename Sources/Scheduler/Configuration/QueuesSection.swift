public import DaemonKit

/// The `queues:` section: each named queue's slots per node and its cluster-wide limits, stored in `scheduler_queue`
/// by every node's worker when it starts (and so at every reload that changes them). A queue no configuration names
/// runs under the default queue's settings.
///
/// ```yaml
/// queues:
///   default: { per_node: 10 }
///   mail:    { per_node: 2, limit: 4, rate: 100/1m }
///   reports: { per_node: 1, key_limit: 1 }
/// ```
public struct QueuesSection: ConfigurationSection, Equatable {
    public static let key = "queues"

    public struct Queue: Sendable, Equatable {
        /// The worker's slots for the queue on each node.
        public var perNode: Int?
        /// At most this many of its tasks run in the cluster at once.
        public var limit: Int?
        /// At most this many of its tasks with one concurrency key run in the cluster at once.
        public var keyLimit: Int?
        /// At most `count` starts in the cluster per `period`.
        public var rate: Rate?

        public init(perNode: Int? = nil, limit: Int? = nil, keyLimit: Int? = nil, rate: Rate? = nil) {
            self.perNode = perNode
            self.limit = limit
            self.keyLimit = keyLimit
            self.rate = rate
        }
    }

    /// `rate: COUNT/PERIOD`.
    public struct Rate: Sendable, Equatable {
        public var count: Int
        public var period: Duration

        public init(count: Int, period: Duration) {
            self.count = count
            self.period = period
        }
    }

    public var queues: [String: Queue] = [:]

    public init() {}

    /// The settings a queue runs under: its own, or the default queue's when the configuration sets none for it (as
    /// `scheduler_claim_tasks` reads `scheduler_queue`).
    public func settings(for name: String) -> Queue {
        if let own = queues[name], own != Queue() { return own }
        return queues["default"] ?? Queue()
    }

    /// Whether a claim locks the queue's row to count its running tasks or starts ("" for the queues it names not).
    func locksRow(_ name: String) -> Bool {
        isLimited(name) || settings(for: name).rate != nil
    }

    /// Whether a claim locks the row of some queue: one that the configuration names, or every other, under the
    /// default queue's settings.
    var locksAnyRow: Bool { locksRow("") || queues.keys.contains(where: locksRow) }

    /// Whether a claim must count the queue's running tasks: a finished task of it frees room that other nodes'
    /// workers may be waiting for. (A rate's room comes back with time, not with an outcome.)
    func isLimited(_ name: String) -> Bool {
        let queue = settings(for: name)
        return queue.limit != nil || queue.keyLimit != nil
    }

    public init(_ value: ConfigurationValue) throws {
        for entry in try value.pairs() {
            var queue = Queue()
            for setting in try entry.value.pairs(allowed: ["per_node", "limit", "key_limit", "rate"]) {
                switch setting.key {
                case "per_node": queue.perNode = try setting.value.positiveInteger()
                case "limit": queue.limit = try setting.value.positiveInteger()
                case "key_limit": queue.keyLimit = try setting.value.positiveInteger()
                default: queue.rate = try Self.rate(setting.value)
                }
            }
            queues[entry.key] = queue
        }
    }

    /// `COUNT/PERIOD`, such as `100/1m`: at most COUNT starts per PERIOD.
    private static func rate(_ value: ConfigurationValue) throws -> Rate {
        let text = try value.string()
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(parts[0]), count > 0, let period = DurationText.parse(String(parts[1])),
            period > .zero
        else {
            throw value.fail("\"\(text)\" is not a rate; write it like 100/1m: at most 100 starts a minute")
        }
        return Rate(count: count, period: period)
    }
}
