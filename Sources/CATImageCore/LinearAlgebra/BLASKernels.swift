import Foundation

#if canImport(COpenBLAS)
    import COpenBLAS
#endif

/// Which of OpenBLAS's kernel families runs, and the correction for CPUs OpenBLAS does not recognise.
///
/// OpenBLAS picks its kernels once, when the library loads, from the CPU model, unless `OPENBLAS_CORETYPE` names
/// them. Debian 12's OpenBLAS 0.3.21 does not know some newer CPUs (Intel Xeon Sapphire Rapids among them) and
/// falls back to its SSE3 "Prescott" kernels, several times slower on every large product (fine-tuning, batches).
/// The `catimage` binary checks at start-up and, when that fallback ran on a CPU with AVX2, starts itself again
/// with `OPENBLAS_CORETYPE` set to the family its instructions support (``suggestedCoreType(loaded:cpuFlags:)``).
public enum BLASKernels {
    /// The kernel family OpenBLAS loaded (`Haswell`, `SkylakeX`, `Cooperlake`, `Prescott`, ...); `Accelerate` on
    /// Apple platforms.
    public static var loaded: String {
        #if canImport(COpenBLAS)
            guard let name = openblas_get_corename() else { return "unknown" }
            return String(cString: name)
        #else
            return "Accelerate"
        #endif
    }

    /// OpenBLAS's fallback for an x86-64 CPU it does not recognise.
    public static let genericFallback = "Prescott"

    /// The family to ask for when OpenBLAS loaded its generic fallback on a CPU with the instructions of a faster
    /// one (flags as `/proc/cpuinfo` spells them): `Cooperlake` (AVX-512 with BF16), `SkylakeX` (AVX-512), `Haswell`
    /// (AVX2 + FMA); `nil` when OpenBLAS chose anything else, or the CPU has none of them.
    public static func suggestedCoreType(loaded: String, cpuFlags: Set<String>) -> String? {
        guard loaded == genericFallback, cpuFlags.isSuperset(of: ["avx2", "fma"]) else { return nil }
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"]) {
            return cpuFlags.contains("avx512_bf16") ? "Cooperlake" : "SkylakeX"
        }
        return "Haswell"
    }

    /// This CPU's feature flags from `/proc/cpuinfo` (empty where there is none).
    public static func cpuFlags(cpuinfo path: String = "/proc/cpuinfo") -> Set<String> {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
            let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
    }

    /// When OpenBLAS loaded its generic fallback on a CPU that runs a faster family and `OPENBLAS_CORETYPE` is
    /// unset, replaces the process with itself run again with the variable set (same arguments, same environment
    /// otherwise). Returns only when nothing needs correcting, or when the restart failed (the slow kernels then
    /// stay, and give the same results).
    public static func restartWithFasterKernelsIfNeeded() {
        #if os(Linux)
            // Reads /proc/cpuinfo only when the fallback loaded: every other start-up costs one string compare.
            let loaded = self.loaded
            guard loaded == genericFallback, ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
                let core = suggestedCoreType(loaded: loaded, cpuFlags: cpuFlags())
            else { return }
            setenv("OPENBLAS_CORETYPE", core, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            unsetenv("OPENBLAS_CORETYPE")
        #endif
    }
}
