import DaemonKit

/// Looks up a task's named entry in one of the configuration's allow-lists (`commands:`, `statements:`); a name not on
/// the list fails the task at once, saying what the list holds.
func allowListed<Entry>(_ name: String, in list: [String: Entry], called listName: String) throws -> Entry {
    guard let entry = list[name] else {
        let allowed = list.keys.sorted()
        throw PermanentTaskFailure(
            "\(name) is not in the \(listName): allow-list"
                + (allowed.isEmpty ? "; the configuration has none." : "; allowed: \(allowed.joined(separator: ", ")).")
        )
    }
    return entry
}
