// swift-tools-version: 6.1
import PackageDescription

// The numeric targets (matrices, the encoder, estimators, fine-tuning) are optimised in debug builds too: the tests
// embed thousands of prompts, fit estimators and run gradient checks through them, which unoptimised Swift makes
// several times slower. Debug builds still pass -enable-testing, so `@testable import` works; the gateway, commands
// and tests stay unoptimised for debugging. (Unsafe flags are allowed in a root package, which CATImage is.)
let optimisedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "CATImage",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "CATImage", targets: ["CATImage"]),
        // The gateway's parsers (YAML config, request bodies) for the libFuzzer harnesses in Fuzz/.
        .library(name: "CATImageGateway", targets: ["CATImageGateway"]),
        .executable(name: "catimage", targets: ["catimage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // CBLAS: OpenBLAS on Linux (pkg-config `openblas`), Accelerate on Apple platforms.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // Data, linear algebra, seeded randomness: what everything else stands on.
        .target(
            name: "CATImageCore",
            dependencies: [.target(name: "COpenBLAS", condition: .when(platforms: [.linux]))],
            swiftSettings: optimisedInDebug
        ),
        // The MiniLM sentence encoder: safetensors, BERT tokenizer, forward pass.
        .target(
            name: "CATImageEncoder", dependencies: ["CATImageCore", "CMiniLMKernels"], swiftSettings: optimisedInDebug),
        // The encoder's small-row matrix products on packed weights (C, AVX-512 / AVX2 / portable, chosen at run time).
        // Optimised in debug builds too: the tests send every single prompt through these kernels, whose intrinsics
        // are slow unoptimised. (Unsafe flags are allowed in a root package, which CATImage is.)
        .target(name: "CMiniLMKernels", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),
        // Quality estimators, the routing rule, evaluation and reports.
        .target(
            name: "CATImage", dependencies: ["CATImageCore", "CATImageEncoder", "CATImageTraining"],
            swiftSettings: optimisedInDebug),
        .executableTarget(
            name: "catimage",
            dependencies: [
                "CATImage",
                "CATImageCore",
                "CATImageEncoder",
                "CATImageTraining",
                "CATImageGateway",
                "CATImageCollect",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Helpers several test targets share (not a test target itself): the catimage binary beside the tests, the
        // MiniLM folder, PNG bytes, stand-in HTTP servers on 127.0.0.1 and databases on the test PostgreSQL server.
        .target(
            name: "CATImageTestSupport",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/Support"
        ),
        .testTarget(name: "CATImageCoreTests", dependencies: ["CATImageCore"]),
        // The commands run in-process on small real data: exit status, output, --json fields.
        .testTarget(
            name: "catimageTests",
            dependencies: [
                "catimage", "CATImage", "CATImageCore", "CATImageEncoder", "CATImageGateway", "CATImageTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(
            name: "CATImageTests", dependencies: ["CATImage", "CATImageCore", "CATImageEncoder", "CATImageTraining"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "CATImageEncoderTests", dependencies: ["CATImageEncoder", "CATImageCore"], exclude: ["Fixtures"]),
        // The HTML report rendered in headless Chromium (scripts/setup.sh installs it), on real CEMS and MiniLM.
        .testTarget(
            name: "CATImageReportTests", dependencies: ["CATImage", "CATImageCore", "CATImageEncoder"]),
        // Fine-tuning MiniLM end to end (backward pass, AdamW) for the Transformer quality estimator.
        .target(
            name: "CATImageTraining", dependencies: ["CATImageCore", "CATImageEncoder"], swiftSettings: optimisedInDebug
        ),
        .testTarget(
            name: "CATImageTrainingTests",
            dependencies: ["CATImageTraining", "CATImageCore", "CATImageEncoder"]),
        // The HTTP gateway: routes image requests to backends, holds a budget, logs decisions to SQLite.
        .target(
            name: "CATImageGateway",
            dependencies: [
                "CATImage",
                "CATImageCore",
                "CATImageEncoder",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                // The request/response parts the connection guard watches in the HTTP/1 pipeline.
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                // The fleet's shared decision log and budget reports (log: {postgres: ...}).
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "CATImageGatewayTests",
            dependencies: [
                "CATImageGateway",
                "CATImage",
                "CATImageCore",
                "CATImageEncoder",
                "CATImageTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                // Writes a decision log with the v1 schema to check its upgrade in place.
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // Building a routing dataset on the user's own generators: collect, score, export, inspect, and human
        // ratings (a local web page) with rater agreement.
        .target(
            name: "CATImageCollect",
            dependencies: [
                "CATImageCore",
                "CATImageEncoder",
                "CATImageGateway",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "CATImageCollectTests",
            dependencies: [
                "CATImageCollect",
                "CATImageGateway",
                "CATImage",
                "CATImageCore",
                "CATImageEncoder",
                "CATImageTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
