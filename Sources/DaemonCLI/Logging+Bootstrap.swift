import Logging

/// Sends log lines to stderr, each tagged with its logger's label (the module's name), at info level, or debug with
/// `--debug`. Only the executable's commands call this; the libraries take a `Logger`.
func bootstrapLogging(debug: Bool) -> (String) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = debug ? .debug : .info
        return handler
    }
    return { label in Logger(label: label) }
}
