import CATImageCore
import CATImageTestSupport
import Foundation
import Testing

@Suite("the catimage binary's OpenBLAS kernels")
struct BinaryBLASKernelsTests {
    @Test("the catimage binary never runs OpenBLAS's generic Prescott kernels on a CPU with AVX2 and FMA")
    func binaryRestartsOntoSupportedKernels() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try catimageBinary())
        process.arguments = ["model", "info", "--json", "--model-dir", try miniLMDirectory()]
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_CORETYPE"] = nil
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let info = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let kernels = try #require(info?["blasKernels"] as? String, "\(String(decoding: data, as: UTF8.self))")
        let flags = BLASKernels.cpuFlags()
        if flags.isSuperset(of: ["avx2", "fma"]) {
            #expect(kernels != BLASKernels.genericFallback, "CPU flags include AVX2 and FMA")
        }
        #expect(!kernels.isEmpty && kernels != "unknown")
    }
}
