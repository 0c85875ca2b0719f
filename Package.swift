// swift-tools-version: 6.1
import PackageDescription

/// Settings every target shares: Swift 6 language mode is the package default; these add the
/// strictness the style guide asks for.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let yams: Target.Dependency = .product(name: "Yams", package: "Yams")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let bcrypt: Target.Dependency = .product(name: "HummingbirdBcrypt", package: "hummingbird-auth")

/// Release builds link with lld for two savings in every daemon process's memory: it puts the functions a running
/// node executes side by side at the start of the code (the list is written by benchmarks/hot-code-order), so a
/// process maps a few MB of the binary's 17 MB of code instead of nearly all of it; and it packs the relative
/// relocations (RELR), which the loader reads in full at every start: 1.9 MB of them before, 34 KB after.
let compactRelease: LinkerSetting = .unsafeFlags(
    [
        "-use-ld=lld", "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/Sources/pgdaemon/hot-code.order",
        "-Xlinker", "--no-warn-symbol-ordering", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
    ], .when(configuration: .release))

var package = Package(
    name: "pgdaemon",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pgdaemon", targets: ["pgdaemon"]),
        .library(name: "Postgres", targets: ["Postgres"]),
        .library(name: "DaemonKit", targets: ["DaemonKit"]),
        .library(name: "Scheduler", targets: ["Scheduler"]),
        .library(name: "Cache", targets: ["Cache"]),
        .library(name: "DaemonCLI", targets: ["DaemonCLI"]),
        .library(name: "PGDaemonTesting", targets: ["PGDaemonTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The web console's HTTP server, sessions and password hashes, and its templates. No traits: Hummingbird's
        // default ones add swift-configuration, which the console does not use, to every clean build.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(name: "Postgres", dependencies: ["CLibPQ"]),
        .executableTarget(name: "embed-files", path: "Plugins/EmbedFilesTool"),
        .plugin(name: "EmbedFiles", capability: .buildTool(), dependencies: ["embed-files"]),
        .target(name: "DaemonKit", dependencies: ["Postgres", yams, logging], plugins: ["EmbedFiles"]),
        .target(name: "Cache", dependencies: ["Postgres", "DaemonKit"]),
        .target(name: "Scheduler", dependencies: ["Postgres", "DaemonKit", "Cache"]),
        .target(
            name: "WebConsole",
            dependencies: [
                "Postgres", "DaemonKit", "Scheduler", "Cache", logging, bcrypt,
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Templates"], plugins: ["EmbedFiles"]),
        .target(
            name: "DaemonCLI",
            dependencies: ["Postgres", "DaemonKit", "Scheduler", "Cache", argumentParser, logging, bcrypt]),
        .executableTarget(
            name: "pgdaemon", dependencies: ["DaemonCLI", "DaemonKit", "Scheduler", "WebConsole"],
            exclude: ["hot-code.order"],
            linkerSettings: [compactRelease]),
        // The testing kit for teams' handlers and modules: a throwaway database and the real modules in-process.
        .target(name: "PGDaemonTesting", dependencies: ["Postgres", "DaemonKit", "Scheduler", logging]),
        .executableTarget(name: "pgdaemon-bench", dependencies: ["Cache", "Postgres", argumentParser]),

        .target(name: "TestSupport", dependencies: ["Postgres", "DaemonKit"], path: "Tests/TestSupport"),
        // A daemon binary on DaemonKit and the cache alone, which the end-to-end tests run beside pgdaemon.
        .executableTarget(
            name: "bare-daemon", dependencies: ["DaemonKit", "Cache", logging], path: "Tests/BareDaemon"),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"]),
        .testTarget(name: "DaemonKitTests", dependencies: ["DaemonKit", "Postgres", "TestSupport"]),
        .testTarget(name: "CacheTests", dependencies: ["Cache", "Postgres", "TestSupport"]),
        .testTarget(
            name: "SchedulerTests", dependencies: ["Scheduler", "DaemonKit", "Cache", "Postgres", "TestSupport"]),
        .testTarget(name: "pgdaemonTests", dependencies: ["Postgres", "Cache", "TestSupport"]),
    ]
)

for target in package.targets where target.type != .system && target.type != .plugin {
    target.swiftSettings = (target.swiftSettings ?? []) + strictSettings
}
