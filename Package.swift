// swift-tools-version:6.0
import PackageDescription

// Every Swift target opts into the checks Hummingbird uses: dependencies stay out of public
// API unless imported `public`, and existentials are spelled `any`.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Satchel",
    platforms: [.macOS(.v14), .iOS(.v17)],
    products: [
        .library(name: "SatchelProtocol", targets: ["SatchelProtocol"]),
        .executable(name: "satchel-bench", targets: ["satchel-bench"]),
    ],
    targets: [
        // System libraries: Debian's -dev packages provide the headers and pkg-config files.
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(
            name: "CSQLite", path: "Sources/CSQLite", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]),

        // The pure core: model, clocks, merge rules, change log, wire messages and frames.
        .target(
            name: "SatchelProtocol", dependencies: ["CZlib"], path: "Protocol",
            exclude: ["PROTOCOL.md", "Vectors"],
            // Optimised even in debug builds: the merge and codec code is hot in the seeded
            // simulations of the test suite, and -Onone makes them several times slower.
            swiftSettings: strict + [.unsafeFlags(["-O"], .when(configuration: .debug))]),

        // The thin, safe SQLite layer shared by the server and client stores.
        .target(
            name: "SatchelSQLite", dependencies: ["CSQLite"], path: "Sources/SatchelSQLite",
            swiftSettings: strict),

        .executableTarget(
            name: "satchel-bench", dependencies: ["SatchelProtocol"], path: "Sources/satchel-bench",
            swiftSettings: strict),

        .testTarget(
            name: "SatchelProtocolTests", dependencies: ["SatchelProtocol"],
            path: "Tests/SatchelProtocolTests", swiftSettings: strict),
        .testTarget(
            name: "SatchelSQLiteTests", dependencies: ["SatchelSQLite"],
            path: "Tests/SatchelSQLiteTests", swiftSettings: strict),
    ]
)
