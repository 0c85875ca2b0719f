// swift-tools-version: 6.1
import PackageDescription

// A daemon of your own, built exactly like pgdaemon: DaemonKit's modules plus yours, under pgdaemon's command line,
// with tests of your handler on pgdaemon's testing kit. In your project, depend on pgdaemon by its repository URL
// instead of the path.
let package = Package(
    name: "pgdaemon-example",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "pgdaemon", path: "..")
    ],
    targets: [
        // The module and the task handler, in a library so that the tests can reach them.
        .target(
            name: "ExampleModules",
            dependencies: [
                .product(name: "DaemonKit", package: "pgdaemon"),
                .product(name: "Postgres", package: "pgdaemon"),
                .product(name: "Scheduler", package: "pgdaemon"),
            ]
        ),
        .executableTarget(
            name: "example-daemon",
            dependencies: [
                "ExampleModules",
                .product(name: "DaemonCLI", package: "pgdaemon"),
                .product(name: "DaemonKit", package: "pgdaemon"),
                .product(name: "Scheduler", package: "pgdaemon"),
            ]
        ),
        .testTarget(
            name: "ExampleTests",
            dependencies: [
                "ExampleModules",
                .product(name: "PGDaemonTesting", package: "pgdaemon"),
                .product(name: "Scheduler", package: "pgdaemon"),
            ]
        ),
    ]
)
