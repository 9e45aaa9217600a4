import CATImageCore
import Foundation
import Testing

@Suite("OpenBLAS kernel family")
struct BLASKernelsTests {
    static let avx2: Set<String> = ["sse3", "avx", "avx2", "fma"]
    static let avx512 = avx2.union(["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"])

    @Test("the generic Prescott fallback is corrected to the fastest family the CPU's flags support, nothing else is")
    func suggestion() {
        #expect(
            BLASKernels.suggestedCoreType(loaded: "Prescott", cpuFlags: Self.avx512.union(["avx512_bf16"]))
                == "Cooperlake")
        #expect(BLASKernels.suggestedCoreType(loaded: "Prescott", cpuFlags: Self.avx512) == "SkylakeX")
        #expect(BLASKernels.suggestedCoreType(loaded: "Prescott", cpuFlags: Self.avx2) == "Haswell")
        #expect(BLASKernels.suggestedCoreType(loaded: "Prescott", cpuFlags: ["sse3", "avx"]) == nil)
        #expect(BLASKernels.suggestedCoreType(loaded: "Prescott", cpuFlags: []) == nil)
        #expect(BLASKernels.suggestedCoreType(loaded: "Zen", cpuFlags: Self.avx512) == nil)
        #expect(BLASKernels.suggestedCoreType(loaded: "Haswell", cpuFlags: Self.avx512) == nil)
    }

    @Test("CPU flags are read from the flags line of a cpuinfo file; a missing file gives none")
    func flags() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cpuinfo-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse3 avx2 fma avx512_bf16\nbugs\t\t: spectre_v1\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(BLASKernels.cpuFlags(cpuinfo: path) == ["fpu", "sse3", "avx2", "fma", "avx512_bf16"])
        #expect(BLASKernels.cpuFlags(cpuinfo: path + ".missing").isEmpty)
    }
}
