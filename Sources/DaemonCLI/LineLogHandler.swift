import Foundation
import Logging
import Postgres
import Synchronization

/// Writes one line per message to stderr: a UTC timestamp to the millisecond, the level, the logger's label (the
/// module's name), the message and its metadata as `key=value`:
///
///     2026-11-29T19:27:44.123Z info TestDaemon: Current time 2026-11-29T19:27:44.120Z
///
/// Each line is one `write`, so the lines of a supervisor and its children, sharing one output, never interleave.
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "\(PostgresTimestamp.iso8601(Date())) \(event.level) \(label): \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in merged.keys.sorted() {
            line += " \(key)=\(merged[key]!)"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Sends log lines to stderr through `LineLogHandler`, at info level, or debug with `--debug`. Only the executable's
/// commands call this; the libraries take a `Logger`.
func bootstrapLogging(debug: Bool) -> (String) -> Logger {
    LoggingSystem.bootstrap { label in
        LineLogHandler(label: label, logLevel: debug ? .debug : .info)
    }
    return { label in Logger(label: label) }
}
