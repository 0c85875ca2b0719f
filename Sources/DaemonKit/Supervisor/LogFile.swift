public import Foundation

/// The log files of a detached daemon: `DIRECTORY/NAME.log` (`pgdaemon.log` for the supervisor, one per module),
/// which `ChildProcess` appends to.
///
/// They rotate by day, each time a process starts to write one (the supervisor at `start`, a module at each start,
/// which its `discard_after` makes at least hourly by default): a file last written on an earlier day (UTC) becomes
/// `NAME.log.YYYY-MM-DD`, named after that day, and rotated files older than `keepDays` are deleted. So a module's
/// lines of one day stay together, the folder holds at most `keepDays` files per log, and no outside logrotate is
/// needed. (The OTRS daemon rotated at every module start and kept a day by default.)
public enum LogFile {
    /// The file's path, with its folder created and the file rotated if needed.
    public static func prepare(directory: String, name: String, keepDays: Int = 7, now: Date = Date()) throws -> String
    {
        let files = FileManager.default
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("\(name).log")
        let today = day(of: now)
        if let written = (try? files.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
            day(of: written) < today
        {
            let rotated = "\(path).\(day(of: written))"
            if files.fileExists(atPath: rotated) {
                // A day's file exists already (the clock went back): keep both, the older one first.
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: rotated))
                defer { try? handle.close() }
                try handle.seekToEnd()
                try handle.write(contentsOf: try Data(contentsOf: URL(fileURLWithPath: path)))
                try files.removeItem(atPath: path)
            } else {
                try files.moveItem(atPath: path, toPath: rotated)
            }
        }
        let oldest = day(of: now.addingTimeInterval(-Double(keepDays) * 86_400))
        for file in (try? files.contentsOfDirectory(atPath: directory)) ?? [] where file.hasPrefix("\(name).log.") {
            let suffix = String(file.dropFirst("\(name).log.".count))
            if suffix.count == 10, suffix < oldest {
                try? files.removeItem(atPath: (directory as NSString).appendingPathComponent(file))
            }
        }
        return path
    }

    /// `YYYY-MM-DD` in UTC: sorts as the days do.
    static func day(of date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day())
    }
}
