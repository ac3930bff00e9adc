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
        .library(name: "SatchelServerCore", targets: ["SatchelServerCore"]),
        .library(name: "SatchelServerSQLite", targets: ["SatchelServerSQLite"]),
        .library(name: "SatchelServerPostgres", targets: ["SatchelServerPostgres"]),
        .library(name: "SatchelServer", targets: ["SatchelServer"]),
        .library(name: "SatchelClient", targets: ["SatchelClient"]),
        // For tests only, as SwiftNIO ships NIOEmbedded and NIOTestUtils: in-memory stores and a
        // seeded generator, kept out of the shipped libraries' API.
        .library(name: "SatchelTesting", targets: ["SatchelTesting"]),
        .executable(name: "satchel-server", targets: ["satchel-server"]),
        .executable(name: "satchel", targets: ["satchel"]),
        .executable(name: "satchel-bench", targets: ["satchel-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
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
            exclude: ["PROTOCOL.md", "Vectors", "openapi.yaml"],
            // No unsafe flags in any target a product reaches: SwiftPM refuses to build a package
            // that depends on one by version (scripts/check-app-package.sh checks it).
            swiftSettings: strict),

        // The thin, safe SQLite layer shared by the server and client stores.
        .target(
            name: "SatchelSQLite", dependencies: ["CSQLite"], path: "Sources/SatchelSQLite",
            swiftSettings: strict),

        // The sync server's core: sync and admin services, store protocols, the change feed,
        // the snapshot cache. No HTTP and no database: backends and the HTTP edge build on it.
        .target(
            name: "SatchelServerCore",
            dependencies: [
                "SatchelProtocol",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            path: "Server/Core", swiftSettings: strict),

        // The embedded default backend: one SQLite file, group commit, backup and restore.
        .target(
            name: "SatchelServerSQLite",
            dependencies: [
                "SatchelServerCore", "SatchelProtocol", "SatchelSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Server/SQLite", swiftSettings: strict),

        // The backend for a cluster: PostgreSQL through postgres-nio, any number of servers on one
        // database, their change feeds joined by LISTEN/NOTIFY.
        .target(
            name: "SatchelServerPostgres",
            dependencies: [
                "SatchelServerCore", "SatchelProtocol",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Server/Postgres", swiftSettings: strict),

        // The HTTP edge (Hummingbird routes, live WebSocket, connection limits) and the server
        // application that puts it together with a backend.
        .target(
            name: "SatchelServer",
            dependencies: [
                "SatchelServerCore", "SatchelServerSQLite", "SatchelServerPostgres", "SatchelProtocol",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Server/HTTP", swiftSettings: strict),

        // The headless client library apps embed: local store, outbox, sync engine, search.
        .target(
            name: "SatchelClient",
            dependencies: [
                "SatchelProtocol", "SatchelSQLite",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Client", swiftSettings: strict),

        // What tests and the simulation run on instead of disks and entropy: MemoryServerStore,
        // MemoryReplicaStorage and SplitMix64.
        .target(
            name: "SatchelTesting", dependencies: ["SatchelProtocol", "SatchelClient", "SatchelServerCore"],
            path: "Testing", swiftSettings: strict),

        // The mission briefing loader (Data/china-briefing.json): mission data, not server
        // library, so it sits beside the executables that load it.
        .target(
            name: "SatchelBriefing", dependencies: ["SatchelProtocol", "SatchelServerCore"],
            path: "Sources/SatchelBriefing", swiftSettings: strict),

        // The deterministic simulation: devices running SyncSession and the server's SyncService
        // over a MemoryServerStore, on a seeded network.
        .target(
            name: "SatchelSimulation",
            dependencies: ["SatchelClient", "SatchelProtocol", "SatchelServerCore", "SatchelTesting", .product(name: "Logging", package: "swift-log")],
            path: "Sources/SatchelSimulation", swiftSettings: strict),

        // What both executables do with their command lines before ArgumentParser sees them.
        .target(name: "SatchelCommandLine", path: "Sources/SatchelCommandLine", swiftSettings: strict),

        .executableTarget(
            name: "satchel-server",
            dependencies: [
                "SatchelServer", "SatchelServerCore", "SatchelServerSQLite", "SatchelProtocol", "SatchelBriefing", "SatchelCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Sources/satchel-server", swiftSettings: strict),

        // The terminal client field staff use.
        .executableTarget(
            name: "satchel",
            dependencies: [
                "SatchelClient", "SatchelProtocol", "SatchelCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/satchel", swiftSettings: strict),

        // The simulation's long sweep, built in release by CI (`satchel-sim --seeds 2000`).
        .executableTarget(
            name: "satchel-sim", dependencies: ["SatchelSimulation"],
            path: "Sources/satchel-sim", swiftSettings: strict),

        // A small program driving SatchelClient, killed mid-sync by the client crash test.
        .executableTarget(
            name: "satchel-driver", dependencies: ["SatchelClient", "SatchelProtocol"],
            path: "Sources/satchel-driver", swiftSettings: strict),

        .executableTarget(
            name: "satchel-bench",
            dependencies: [
                "SatchelProtocol", "SatchelServer", "SatchelServerCore", "SatchelServerSQLite", "SatchelServerPostgres", "SatchelClient", "SatchelSQLite", "SatchelBriefing", "SatchelTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Sources/satchel-bench",
            swiftSettings: strict),

        .testTarget(
            name: "SatchelProtocolTests", dependencies: ["SatchelProtocol", "SatchelTesting", "SatchelCommandLine"],
            path: "Tests/SatchelProtocolTests", swiftSettings: strict),
        // Shared by the test targets: temporary folders, the built binaries, the real server as a
        // process over a data directory provisioned in process, a lock box, raw sockets.
        .target(
            name: "SatchelTestSupport",
            dependencies: [
                "SatchelProtocol", "SatchelServer", "SatchelServerCore", "SatchelServerSQLite", "SatchelServerPostgres",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SatchelTestSupport", swiftSettings: strict),
        .testTarget(
            name: "SatchelServerTests",
            dependencies: [
                "SatchelServer", "SatchelServerCore", "SatchelServerSQLite", "SatchelServerPostgres", "SatchelProtocol", "SatchelSQLite", "SatchelTestSupport", "SatchelTesting", "SatchelBriefing",
                // Real devices for the cluster tests (ClusterTests).
                "SatchelClient",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                // Close codes of live connections (LiveRevocationTests).
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            path: "Tests/SatchelServerTests", swiftSettings: strict),
        .testTarget(
            name: "SatchelClientTests",
            dependencies: ["SatchelClient", "SatchelSimulation", "SatchelProtocol", "SatchelServer", "SatchelServerCore", "SatchelServerSQLite", "SatchelSQLite", "SatchelTestSupport", "SatchelTesting", "SatchelBriefing"],
            path: "Tests/SatchelClientTests", exclude: ["Fixtures"], swiftSettings: strict),
        .testTarget(
            name: "SatchelSQLiteTests", dependencies: ["SatchelSQLite", "SatchelTestSupport"],
            path: "Tests/SatchelSQLiteTests", swiftSettings: strict),
    ]
)
