// swift-tools-version: 6.0
import PackageDescription

// A daemon of your own, built exactly like pgdaemon: DaemonKit's modules plus yours, under pgdaemon's command line.
// In your project, depend on pgdaemon by its repository URL instead of the path.
let package = Package(
    name: "pgdaemon-example",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "pgdaemon", path: "..")
    ],
    targets: [
        .executableTarget(
            name: "example-daemon",
            dependencies: [
                .product(name: "DaemonCLI", package: "pgdaemon"),
                .product(name: "DaemonKit", package: "pgdaemon"),
                .product(name: "Postgres", package: "pgdaemon"),
                .product(name: "Scheduler", package: "pgdaemon"),
            ]
        )
    ]
)
