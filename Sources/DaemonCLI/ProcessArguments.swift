import Foundation

/// The arguments the process was started with, after the program's name.
///
/// Swift finds argv by walking back from `environ`, and a library preloaded with LD_PRELOAD that calls `setenv` before
/// Swift's runtime starts moves `environ` (libfaketime does: swiftlang/swift#76080). `CommandLine.arguments` is then
/// empty, and `pgdaemon run` would print its help and exit; the kernel's copy in /proc/self/cmdline is read instead.
enum ProcessArguments {
    static var afterProgramName: [String] {
        guard CommandLine.arguments.isEmpty, let cmdline = FileManager.default.contents(atPath: "/proc/self/cmdline")
        else { return Array(CommandLine.arguments.dropFirst()) }
        // Each argument ends with a NUL, an empty one too.
        return cmdline.split(separator: 0, omittingEmptySubsequences: false).dropFirst().dropLast()
            .map { String(decoding: $0, as: UTF8.self) }
    }
}
