// swift-tools-version:6.0
import PackageDescription

// The hot loops (Kernels, Policy) work on unsafe pointers: -Ounchecked drops the overflow checks
// in them in release builds. A debug build keeps every check but still optimizes these two (-O),
// so the numerics tests run at speed there too. Every other target is plain release or debug:
// their preconditions guard user input.
let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]
let hotLoops: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))] + optimizedInDebug

let package = Package(
    name: "swift-grpo",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "grpo", targets: ["grpo"]),
        .library(name: "Policy", targets: ["Policy"]),
    ],
    // Pinned exactly, so every build compiles the same sources. Package.resolved is not committed:
    // a resolved file records commit ids, and a mirror's copies may have others than GitHub's.
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
    ],
    targets: [
        // System libraries from Debian (`make deps` installs them).
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPCRE2", pkgConfig: "libpcre2-8", providers: [.apt(["libpcre2-dev"])]),

        // Hashing, the seeded RNG, atomic files, JSON values, memory, set folders, config errors: no numerics.
        .target(name: "Support"),
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Kernels", dependencies: ["Support", "COpenBLAS", "CKernels"], swiftSettings: hotLoops),
        .target(
            name: "Policy", dependencies: ["Support", "Kernels", "CKernels", "CPCRE2"], resources: [.copy("Shapes")],
            swiftSettings: hotLoops),

        // Runs policy-written code in namespaces under an unprivileged uid (util-linux).
        .target(name: "CSandbox"),
        .target(name: "Sandbox", dependencies: ["CSandbox"]),
        .target(
            name: "RewardRules",
            dependencies: ["CPCRE2", "Support", "Sandbox", .product(name: "Yams", package: "Yams")]),
        .target(
            name: "TaskSets",
            dependencies: ["RewardRules", "Sandbox", "Support", .product(name: "Yams", package: "Yams")]),
        // Line charts as standalone SVG files (the plots of a run); depends on nothing.
        .target(name: "Charts"),
        // Runs, steps, groups, samples and rule scores in SQLite (GRDB over Debian's libsqlite3).
        .target(
            name: "Traces",
            dependencies: ["Support", "Charts", "CSQLite", .product(name: "GRDB", package: "GRDB.swift")]),
        // `grpo traces serve`: the trace database in a browser (JSON endpoints and the pages that read them).
        .target(
            name: "TraceViewer",
            dependencies: ["Traces", "Support", .product(name: "Hummingbird", package: "hummingbird")],
            resources: [.copy("Pages")]),
        // SFT and the GRPO loop: the policy, the rules, the task sets and the traces meet here.
        .target(
            name: "Training",
            dependencies: [
                "Support", "Policy", "Kernels", "RewardRules", "TaskSets", "Traces",
                .product(name: "Yams", package: "Yams"), .product(name: "TOMLKit", package: "TOMLKit"),
            ]),
        // The rules and the sandbox as an HTTP reward service (OpenRLHF, Sandbox Fusion and native protocols).
        .target(
            name: "Serve",
            dependencies: [
                "Support", "RewardRules", "Sandbox", "TaskSets", "Traces", "Training",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "grpo",
            dependencies: [
                "Support", "Policy", "Training", "Kernels", "RewardRules", "TaskSets", "Sandbox", "Traces", "Serve",
                "TraceViewer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "SupportTests", dependencies: ["Support"]),
        // The numerics tests' naive references (triple-loop gemm, finite differences) are -O in
        // debug too: checks stay on, and the debug pass of `make test` takes seconds, not minutes.
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels", "Support"], swiftSettings: optimizedInDebug),
        // Fixtures/ is read by path (ModelGoldenTests), not bundled.
        .testTarget(
            name: "PolicyTests", dependencies: ["Policy", "Kernels", "Support"], exclude: ["Fixtures"],
            swiftSettings: optimizedInDebug),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Policy", "Kernels", "Support", "RewardRules", "TaskSets", "Traces"]),
        .testTarget(name: "RewardRulesTests", dependencies: ["RewardRules", "Support"]),
        .testTarget(name: "ChartsTests", dependencies: ["Charts"]),
        .testTarget(
            name: "TracesTests",
            dependencies: ["Traces", "Charts", "Support", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "TraceViewerTests",
            dependencies: ["TraceViewer", "Traces", "Support", .product(name: "GRDB", package: "GRDB.swift")]),
        // Hostile/ (the hostile programs) is read by path, not bundled.
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "RewardRules", "Support"], exclude: ["Hostile"]),
        .testTarget(name: "ServeTests", dependencies: ["Serve", "RewardRules", "Support"]),
        .testTarget(name: "TaskSetsTests", dependencies: ["TaskSets", "RewardRules", "Sandbox", "Support"]),
        // Runs the built binary (`make test` builds it first); Training for the option tables it checks --help against.
        .testTarget(name: "CLITests", dependencies: ["Training", "Support"]),
    ],
    swiftLanguageModes: [.v5]
)
