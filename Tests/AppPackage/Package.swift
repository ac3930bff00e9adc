// swift-tools-version:6.0
// A small app that embeds Satchel as an app developer would: by version, from a git tag.
// `scripts/check-app-package.sh` puts the tagged copy's URL in place of SATCHEL_URL, then builds
// and runs it. SwiftPM refuses a dependency whose products carry unsafe build flags, so this is
// what keeps Package.swift free of them.
import PackageDescription

let package = Package(
    name: "FieldApp",
    platforms: [.macOS(.v14), .iOS(.v17)],
    dependencies: [
        .package(url: "SATCHEL_URL", from: "0.1.0"),
    ],
    targets: [
        .executableTarget(
            name: "field-app",
            dependencies: [.product(name: "SatchelClient", package: "satchel")],
            path: "Sources"),
    ]
)
