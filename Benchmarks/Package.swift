// swift-tools-version: 6.1
// Allocation- and instruction-level benchmarks of Engram's hot paths (ordo-one/benchmark).
// A separate package, as in swift-nio, so the main build does not pay for the dependency.
// Run: cd Benchmarks && swift package --allow-writing-to-package-directory benchmark (see docs/benchmarks.md)
import Foundation
import PackageDescription

/// The identity of the package at "../" is its folder's name, which differs between clones.
let engram = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "EngramBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "EngramCore", package: engram),
                .product(name: "EngramVectorIndex", package: engram),
            ],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
