// swift-tools-version: 6.1
// libFuzzer harnesses for CATImage's parsers of outside data. A package of its own, so the root package's build and
// CI never see these executables (they have no `main`: libFuzzer supplies it). Run them with
// `scripts/fuzz.sh [target] [seconds]`; the always-on corpus replay is Tests/CATImageGatewayTests/FuzzReplay.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which differs between clones and worktrees.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let rootIdentity = root.lastPathComponent.lowercased()

func harness(_ name: String, product: String = "CATImage") -> Target {
    .executableTarget(
        name: name,
        dependencies: [.product(name: product, package: rootIdentity), "FuzzSupport"],
        // No `main`: the fuzzer's driver calls `LLVMFuzzerTestOneInput`.
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]
    )
}

let package = Package(
    name: "CATImageFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "..")],
    targets: ["FuzzCSV", "FuzzSafetensors", "FuzzNumpy", "FuzzTokenizer", "FuzzRouterFile"].map { harness($0) }
        + ["FuzzGatewayConfig", "FuzzRequestBody"].map { harness($0, product: "CATImageGateway") } + [
            // Scratch files for the parsers that read from a path.
            .target(name: "FuzzSupport")
        ],
    swiftLanguageModes: [.v6]
)
