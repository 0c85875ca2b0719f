/// Counts a library keeps in a module process's memory (the cache's hits and misses), which the process adds to
/// `daemon_counter` every few seconds and when it ends: counting in memory keeps the counted operation free of any
/// write. Registered with the binary's `ModuleRegistry`.
public struct CounterSource: Sendable {
    /// One counter's growth: `daemon_counter`'s name and label.
    public struct Count: Codable, Sendable, Equatable {
        public var name: String
        public var label: String
        public var value: Int

        public init(name: String, label: String, value: Int) {
            self.name = name
            self.label = label
            self.value = value
        }
    }

    /// The counts since they were last taken; counting starts again from zero.
    public var take: @Sendable () -> [Count]
    /// Gives back counts that could not be stored, to be stored with the next ones.
    public var putBack: @Sendable ([Count]) -> Void

    public init(take: @escaping @Sendable () -> [Count], putBack: @escaping @Sendable ([Count]) -> Void) {
        self.take = take
        self.putBack = putBack
    }
}
