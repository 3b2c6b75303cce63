// swift-tools-version: 6.1
import PackageDescription

/// Every Swift target is built in Swift 6 language mode with strict concurrency.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Engram",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "EngramCore", targets: ["EngramCore"]),
        .library(name: "EngramReference", targets: ["EngramReference"]),
        .library(name: "EngramSQLite", targets: ["EngramSQLite"]),
        .library(name: "EngramVectorIndex", targets: ["EngramVectorIndex"]),
        .library(name: "EngramPostgres", targets: ["EngramPostgres"]),
        .library(name: "EngramExternal", targets: ["EngramExternal"]),
        .library(name: "EngramFiles", targets: ["EngramFiles"]),
        .library(name: "EngramCosmos", targets: ["EngramCosmos"]),
        .library(name: "Conformance", targets: ["Conformance"]),
        .executable(name: "engram", targets: ["engram"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The contract: records, queries, patches, validation, errors, the MemoryStore protocol.
        .target(name: "EngramCore", swiftSettings: strictSettings),
        // The in-memory reference store: the simplest correct implementation.
        .target(name: "EngramReference", dependencies: ["EngramCore"], swiftSettings: strictSettings),
        // FAISS behind a pure-C header (Debian's libfaiss.a has no C API compiled in).
        .target(
            name: "CFaissShim",
            linkerSettings: [
                .linkedLibrary("faiss"), .linkedLibrary("lapack"), .linkedLibrary("blas"),
                .linkedLibrary("gomp"), .linkedLibrary("m"),
            ]
        ),
        .target(name: "EngramVectorIndex", dependencies: ["CFaissShim"], swiftSettings: strictSettings),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(
            name: "EngramSQLite",
            dependencies: ["EngramCore", "EngramVectorIndex", "CSQLite"],
            swiftSettings: strictSettings
        ),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "EngramPostgres", dependencies: ["EngramCore", "CLibPQ"], swiftSettings: strictSettings),
        // JSON files in one directory: a snapshot plus one log file per call.
        .target(name: "EngramFiles", dependencies: ["EngramCore"], swiftSettings: strictSettings),
        // Azure Cosmos DB for NoSQL over its REST API.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev", "libssl-dev"])]),
        .target(name: "EngramCosmos", dependencies: ["EngramCore", "CCurl"], swiftSettings: strictSettings),
        // A backend in another process and language, over the adapter protocol.
        .target(name: "EngramExternal", dependencies: ["EngramCore"], swiftSettings: strictSettings),
        // The conformance suite: a library product that backend authors run over their own store.
        // It depends on the reference store as its oracle (the differential fuzzer), on no backend.
        .target(name: "Conformance", dependencies: ["EngramCore", "EngramReference"], path: "Conformance", swiftSettings: strictSettings),
        // Vector files a user brings: ann-benchmarks' HDF5 datasets, and their SHA-256.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // Benchmark scenarios, statistics and report writers.
        .target(name: "EngramBench", dependencies: ["EngramCore", "CHDF5", "COpenSSL"], swiftSettings: strictSettings),
        // The backend catalog: every built-in backend with its fixture, service and benchmark
        // variants, shared by the command line and the test targets.
        .target(
            name: "EngramCatalog",
            dependencies: ["EngramCore", "EngramReference", "EngramSQLite", "EngramVectorIndex", "EngramPostgres", "EngramExternal", "EngramFiles", "EngramCosmos", "Conformance", "EngramBench"],
            swiftSettings: strictSettings
        ),
        // The review's findings as verdicts per backend: scenarios, a benchmark slice and probes.
        .target(
            name: "EngramFindings",
            dependencies: ["EngramCatalog", "EngramCore", "EngramExternal", "Conformance", "EngramBench"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "engram",
            dependencies: [
                "EngramCatalog", "EngramFindings", "EngramCore", "EngramReference", "EngramSQLite", "EngramPostgres", "EngramFiles", "EngramExternal", "Conformance", "EngramBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "EngramCoreTests", dependencies: ["EngramCore"], swiftSettings: strictSettings),
        .testTarget(
            name: "ConformanceTests",
            dependencies: ["Conformance", "EngramCatalog", "EngramReference", "EngramCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "EngramVectorIndexTests", dependencies: ["EngramVectorIndex"], swiftSettings: strictSettings),
        .testTarget(
            name: "EngramSQLiteTests",
            dependencies: ["EngramSQLite", "Conformance", "EngramCore", "CSQLite"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EngramPostgresTests",
            dependencies: ["EngramPostgres", "Conformance", "EngramCore", "CLibPQ"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EngramExternalTests",
            dependencies: ["EngramExternal", "Conformance", "EngramCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EngramFilesTests",
            dependencies: ["EngramFiles", "Conformance", "EngramCore"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EngramCosmosTests",
            dependencies: ["EngramCosmos", "Conformance", "EngramCore"],
            swiftSettings: strictSettings
        ),
        // Whole-system tests: torture through real child processes, the gate, faults of the environment.
        .testTarget(
            name: "EngramSystemTests",
            dependencies: ["Conformance", "EngramCatalog", "EngramBench", "EngramFindings", "EngramCore", "EngramReference", "EngramSQLite", "EngramFiles", "CHDF5"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
