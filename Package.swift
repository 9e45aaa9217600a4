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
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
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
        .target(name: "CATImageEncoder", dependencies: ["CATImageCore"]),
        // Quality estimators, the routing rule, evaluation and reports.
        .target(name: "CATImage", dependencies: ["CATImageCore", "CATImageEncoder"]),
        .executableTarget(
            name: "catimage",
            dependencies: [
                "CATImage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "CATImageCoreTests", dependencies: ["CATImageCore"]),
        .testTarget(name: "CATImageTests", dependencies: ["CATImage"]),
        .testTarget(name: "CATImageEncoderTests", dependencies: ["CATImageEncoder"]),
    ],
    swiftLanguageModes: [.v6]
)
