// swift-tools-version:6.0
import PackageDescription

// Hot loops work on unsafe pointers; -Ounchecked drops the overflow checks in them.
let optimized: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "swift-grpo",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "grpo", targets: ["grpo"]),
        .library(name: "Policy", targets: ["Policy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
    ],
    targets: [
        // System libraries from Debian (`make deps` installs them).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPCRE2", pkgConfig: "libpcre2-8", providers: [.apt(["libpcre2-dev"])]),

        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Kernels", dependencies: ["COpenBLAS", "CKernels"], swiftSettings: optimized),
        .target(
            name: "Policy", dependencies: ["Kernels", "CKernels", "CPCRE2"], resources: [.copy("Shapes")],
            swiftSettings: optimized),

        // Runs policy-written code in namespaces under an unprivileged uid (util-linux).
        .target(name: "CSandbox"),
        .target(name: "Sandbox", dependencies: ["CSandbox"], swiftSettings: optimized),
        .target(
            name: "RewardRules",
            dependencies: ["CPCRE2", "Kernels", "Sandbox", .product(name: "Yams", package: "Yams")],
            swiftSettings: optimized),
        .target(
            name: "TaskSets",
            dependencies: ["RewardRules", "Sandbox", "Kernels", .product(name: "Yams", package: "Yams")],
            swiftSettings: optimized),
        // Line charts as standalone SVG files (the plots of a run); depends on nothing.
        .target(name: "Charts"),
        // Runs, steps, groups, samples and rule scores in SQLite (GRDB over Debian's libsqlite3).
        .target(
            name: "Traces",
            dependencies: ["Kernels", "Charts", "CSQLite", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: optimized),
        // `grpo traces serve`: the trace database in a browser (JSON endpoints and the pages that read them).
        .target(
            name: "TraceViewer",
            dependencies: ["Traces", .product(name: "Hummingbird", package: "hummingbird")],
            resources: [.copy("Pages")]),
        // SFT and the GRPO loop: the policy, the rules, the task sets and the traces meet here.
        .target(
            name: "Training",
            dependencies: [
                "Policy", "Kernels", "RewardRules", "TaskSets", "Traces",
                .product(name: "Yams", package: "Yams"),
            ], swiftSettings: optimized),
        // The rules and the sandbox as an HTTP reward service (OpenRLHF, Sandbox Fusion and native protocols).
        .target(
            name: "Serve",
            dependencies: [
                "RewardRules", "Sandbox", "TaskSets", "Traces", "Kernels", "Training",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ], swiftSettings: optimized),
        .executableTarget(
            name: "grpo",
            dependencies: [
                "Policy", "Training", "Kernels", "RewardRules", "TaskSets", "Sandbox", "Traces", "Serve",
                "TraceViewer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], swiftSettings: optimized),

        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        // Fixtures/ is read by path (ModelGoldenTests), not bundled.
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "Kernels"], exclude: ["Fixtures"]),
        .testTarget(
            name: "TrainingTests", dependencies: ["Training", "Policy", "Kernels", "RewardRules", "TaskSets", "Traces"]),
        .testTarget(name: "RewardRulesTests", dependencies: ["RewardRules", "Kernels"]),
        .testTarget(name: "ChartsTests", dependencies: ["Charts"]),
        .testTarget(
            name: "TracesTests",
            dependencies: ["Traces", "Charts", "Kernels", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "TraceViewerTests",
            dependencies: ["TraceViewer", "Traces", .product(name: "GRDB", package: "GRDB.swift")]),
        // Hostile/ (the hostile programs) is read by path, not bundled.
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "RewardRules"], exclude: ["Hostile"]),
        .testTarget(name: "ServeTests", dependencies: ["Serve", "RewardRules"]),
        .testTarget(name: "TaskSetsTests", dependencies: ["TaskSets", "RewardRules", "Sandbox"]),
        // Runs the built binary (`make test` builds it first); Training for the option tables it checks --help against.
        .testTarget(name: "CLITests", dependencies: ["Training"]),
    ],
    swiftLanguageModes: [.v5]
)
