import Foundation

/// How the pages write times and durations: UTC ISO 8601 to the second, and ages as an operator reads them.
enum Formatting {
    static func time(_ date: Date?) -> String {
        date.map { $0.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false)) } ?? "-"
    }

    /// `0.4 s`, `12 s`, `5 min`, `3 h`, `2 d`.
    static func age(seconds: Double?) -> String {
        guard let seconds else { return "-" }
        switch seconds {
        case ..<10: return String(format: "%.1f s", seconds)
        case ..<120: return "\(Int(seconds)) s"
        case ..<7200: return "\(Int(seconds / 60)) min"
        case ..<172_800: return "\(Int(seconds / 3600)) h"
        default: return "\(Int(seconds / 86400)) d"
        }
    }
}
