// swift-tools-version:6.1
import PackageDescription

// Every Swift target: Swift 6 language mode plus the upcoming features Hummingbird uses.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// Hot paths (Keccak, RLP, trie, AES-GCM) are worth full cross-module optimization in release builds.
let hotPathSettings: [SwiftSetting] =
    strictSettings + [
        .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))
    ]

let package = Package(
    name: "delong",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "delong", targets: ["delong"]),
        .executable(name: "delong-bench", targets: ["DelongBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", "4.1.0"..<"6.0.0"),
    ],
    targets: [
        // MARK: C system libraries (each imported by exactly one Swift module)
        .systemLibrary(
            name: "CSecp256k1",
            path: "Chain/CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]
        ),
        .systemLibrary(name: "CLevelDB", path: "Chain/CLevelDB", providers: [.apt(["libleveldb-dev"])]),
        .systemLibrary(
            name: "COpenSSL",
            path: "Planes/COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CFuse3",
            path: "Planes/CFuse3",
            pkgConfig: "fuse3",
            providers: [.apt(["libfuse3-dev"])]
        ),

        .systemLibrary(name: "CLinux", path: "Planes/CLinux"),
        .systemLibrary(
            name: "CCompression",
            path: "Planes/CCompression",
            providers: [.apt(["zlib1g-dev", "libbz2-dev", "libzstd-dev"])]
        ),
        .systemLibrary(
            name: "CSeccomp",
            path: "Planes/CSeccomp",
            pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),

        // MARK: Chain
        .target(
            name: "ChainCore",
            dependencies: ["CSecp256k1"],
            path: "Chain/ChainCore",
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "ChainRecords",
            dependencies: ["ChainCore"],
            path: "Chain/ChainRecords",
            swiftSettings: strictSettings
        ),
        .target(
            name: "ChainIndex",
            dependencies: ["ChainCore", "ChainRecords", "CLevelDB", .product(name: "Logging", package: "swift-log")],
            path: "Chain/ChainIndex",
            swiftSettings: strictSettings
        ),

        .target(
            name: "LightClient",
            dependencies: [
                "ChainCore",
                "ChainIndex",
                "ChainRecords",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Chain/LightClient",
            swiftSettings: strictSettings
        ),

        // MARK: Planes
        // The auditor's checks: public data only, no plane server (ModuleBoundaryTests holds it to that).
        .target(
            name: "Audit",
            dependencies: ["Attestation", "ChainCore", "ChainIndex", "ChainRecords", "PlaneCrypto", "PlaneProtocol"],
            path: "Planes/Audit",
            swiftSettings: strictSettings
        ),
        .target(
            name: "ComputingPlane",
            dependencies: [
                "Attestation", "CCompression", "ChainCore", "ChainRecords", "CLinux", "CSeccomp", "DecryptFS",
                "PlaneCrypto",
                "PlaneProtocol", "Sampling", "Sealing", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Planes/ComputingPlane",
            swiftSettings: strictSettings
        ),
        .target(
            name: "ComputingPlaneHTTP",
            dependencies: [
                "ChainCore", "ChainRecords", "ComputingPlane", "PlaneCrypto", "PlaneProtocol", "PrivacyPlane",
                "PrivacyPlaneHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            path: "Planes/ComputingPlaneHTTP",
            swiftSettings: strictSettings
        ),
        .target(
            name: "PlaneProtocol",
            dependencies: [
                "ChainCore", "PlaneCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Planes/PlaneProtocol",
            swiftSettings: strictSettings
        ),
        .target(
            name: "PrivacyPlane",
            dependencies: [
                "Attestation", "ChainCore", "ChainRecords", "PlaneCrypto", "PlaneProtocol",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Planes/PrivacyPlane",
            swiftSettings: strictSettings
        ),
        .target(
            name: "PrivacyPlaneHTTP",
            dependencies: [
                "ChainCore", "ChainRecords", "PlaneProtocol", "PrivacyPlane",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Planes/PrivacyPlaneHTTP",
            swiftSettings: strictSettings
        ),
        .target(
            name: "PlaneCrypto",
            dependencies: ["COpenSSL"],
            path: "Planes/PlaneCrypto",
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "Attestation",
            dependencies: ["ChainCore", "PlaneCrypto"],
            path: "Planes/Attestation",
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "Sealing",
            dependencies: ["PlaneCrypto"],
            path: "Planes/Sealing",
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "Parquet",
            dependencies: ["CCompression"],
            path: "Planes/Parquet",
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "Sampling",
            dependencies: ["Parquet", "PlaneCrypto"],
            path: "Planes/Sampling",
            swiftSettings: strictSettings
        ),
        // S3 with SigV4 over AsyncHTTPClient: DA objects in a bucket (datasets are read through rclone instead).
        .target(
            name: "ObjectStore",
            dependencies: [
                "PlaneCrypto",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Planes/ObjectStore",
            swiftSettings: strictSettings
        ),
        // Compute Engine REST for Confidential VMs (TDX): service-account tokens, instances, operations, a sweeper.
        // It links no plane (ModuleBoundaryTests holds it to that): the Computing Plane's backend glue uses it.
        .target(
            name: "ComputeEngine",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ],
            path: "Planes/ComputeEngine",
            swiftSettings: strictSettings
        ),
        .target(
            name: "DecryptFS",
            dependencies: ["Sealing", "CFuse3", .product(name: "Logging", package: "swift-log")],
            path: "Planes/DecryptFS",
            swiftSettings: hotPathSettings
        ),

        // MARK: Executables
        .executableTarget(
            name: "delong",
            dependencies: [
                "Audit", "ChainCore", "ChainIndex", "ChainRecords", "LightClient", "PrivacyPlane", "PrivacyPlaneHTTP",
                "PlaneCrypto", "PlaneProtocol",
                "ComputingPlane", "ComputingPlaneHTTP", "Sealing", "Sampling", "DecryptFS", "Attestation",
                "ObjectStore", "ComputeEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Node",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "DelongBench",
            dependencies: [
                "Attestation", "ChainCore", "ChainRecords", "ComputingPlane", "Parquet", "PlaneCrypto", "PlaneProtocol",
                "PrivacyPlane", "PrivacyPlaneHTTP", "ComputingPlaneHTTP", "Sampling",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "contrib/benchmarks/DelongBench",
            swiftSettings: hotPathSettings
        ),

        // MARK: Tests
        .target(
            name: "TestSupport",
            dependencies: [
                "ChainCore", "LightClient", .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ChainCoreTests",
            dependencies: ["ChainCore", "TestSupport"],
            path: "Tests/ChainCoreTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ChainIndexTests",
            dependencies: ["ChainIndex", "ChainRecords", "TestSupport"],
            path: "Tests/ChainIndexTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SealingTests",
            dependencies: ["Sealing", "PlaneCrypto", "TestSupport"],
            path: "Tests/SealingTests",
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SamplingTests",
            dependencies: ["Sampling"],
            path: "Tests/SamplingTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ParquetTests",
            dependencies: ["Parquet", "Sampling", "TestSupport"],
            path: "Tests/ParquetTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ObjectStoreTests",
            dependencies: [
                "ObjectStore", "PlaneCrypto", "TestSupport", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ObjectStoreTests",
            swiftSettings: strictSettings
        ),
        // The FAKE Compute Engine and token endpoint (and the test service account) apart from TestSupport: with
        // Hummingbird's modules loaded into every TestSupport user, DecryptFSTests' `stat` resolved to CFuse3's
        // copy of the C struct (a MemberImportVisibility error there). Importing ComputeEngine (jwt-kit,
        // swift-crypto) into DecryptFSTests does not do that.
        .target(
            name: "ComputeEngineFake",
            dependencies: [
                "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/ComputeEngineFake",
            swiftSettings: strictSettings
        ),
        // The fake in a process of its own (ConfidentialVMBackendTests), so a loaded test process cannot starve it.
        .executableTarget(
            name: "fake-compute-engine",
            dependencies: [
                "ComputeEngineFake",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "Tests/FakeComputeEngineServer",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ComputeEngineTests",
            dependencies: [
                "ComputeEngine", "ComputeEngineFake", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ComputeEngineTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DecryptFSTests",
            dependencies: ["DecryptFS", "Sealing", "TestSupport"],
            path: "Tests/DecryptFSTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PrivacyPlaneTests",
            dependencies: [
                "PrivacyPlane", "PlaneProtocol", "Attestation", "ChainCore", "ChainRecords", "PlaneCrypto",
                "TestSupport", .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            path: "Tests/PrivacyPlaneTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ComputingPlaneTests",
            dependencies: [
                "ComputingPlane", "TestSupport", "ComputingPlaneHTTP", "PrivacyPlane", "ChainCore", "PlaneProtocol",
                "Attestation", "ChainRecords", "PlaneCrypto", "Sealing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            path: "Tests/ComputingPlaneTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PlaneProtocolTests",
            dependencies: [
                "PlaneProtocol", "ChainCore", "PlaneCrypto", "TestSupport",
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/PlaneProtocolTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AttestationTests",
            dependencies: ["Attestation", "ChainCore", "PlaneCrypto", "TestSupport"],
            path: "Tests/AttestationTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LightClientTests",
            dependencies: ["LightClient", "ChainIndex", "ChainRecords", "ChainCore", "TestSupport"],
            path: "Tests/LightClientTests",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "NodeTests",
            dependencies: [
                "delong", "TestSupport", "Audit", "ChainCore", "ChainIndex", "ComputingPlane", "PlaneCrypto",
                "PlaneProtocol", "PrivacyPlane", "ComputeEngine",
                "Sampling", .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/NodeTests",
            swiftSettings: strictSettings
        ),
        // Unit tests of the executable's own helpers (`@testable import delong`), apart from NodeTests, which
        // run the built `delong` and whose name lookups a testable import of it would change.
        .testTarget(
            name: "NodeUnitTests",
            dependencies: ["delong"],
            path: "Tests/NodeUnitTests",
            swiftSettings: strictSettings
        ),
    ]
)
