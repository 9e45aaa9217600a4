// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "CATImage",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "CATImage", targets: ["CATImage"]),
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
            dependencies: [.target(name: "COpenBLAS", condition: .when(platforms: [.linux]))]
        ),
        // The MiniLM sentence encoder: safetensors, BERT tokenizer, forward pass.
        .target(name: "CATImageEncoder", dependencies: ["CATImageCore", "CMiniLMKernels"]),
        // The encoder's small-row matrix products on packed weights (C, AVX-512 / AVX2 / portable, chosen at run time).
        .target(name: "CMiniLMKernels"),
        // Quality estimators, the routing rule, evaluation and reports.
        .target(name: "CATImage", dependencies: ["CATImageCore", "CATImageEncoder", "CATImageTraining"]),
        .executableTarget(
            name: "catimage",
            dependencies: [
                "CATImage",
                "CATImageTraining",
                "CATImageGateway",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "CATImageCoreTests", dependencies: ["CATImageCore"]),
        .testTarget(name: "CATImageTests", dependencies: ["CATImage"]),
        .testTarget(name: "CATImageEncoderTests", dependencies: ["CATImageEncoder"]),
        // The HTML report rendered in headless Chromium (scripts/setup.sh installs it), on real CEMS and MiniLM.
        .testTarget(
            name: "CATImageReportTests", dependencies: ["CATImage", "CATImageCore", "CATImageEncoder"]),
        // Fine-tuning MiniLM end to end (backward pass, AdamW) for the Transformer quality estimator.
        .target(name: "CATImageTraining", dependencies: ["CATImageCore", "CATImageEncoder"]),
        .testTarget(
            name: "CATImageTrainingTests",
            dependencies: ["CATImageTraining", "CATImageCore", "CATImageEncoder", "CATImage"]),
        // The HTTP gateway: routes image requests to backends, holds a budget, logs decisions to SQLite.
        .target(
            name: "CATImageGateway",
            dependencies: [
                "CATImage",
                "CATImageCore",
                "CATImageEncoder",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "CATImageGatewayTests",
            dependencies: [
                "CATImageGateway",
                "CATImage",
                "CATImageCore",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
