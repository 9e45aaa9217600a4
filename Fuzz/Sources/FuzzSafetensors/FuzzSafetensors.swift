import CATImage
import CATImageCore
import Foundation
import FuzzSupport

/// Safetensors files: any bytes open to readable tensors or throw `SafetensorsError`; no out-of-bounds read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data else { return 0 }
    let path = FuzzScratch.write(UnsafeBufferPointer(start: data, count: count), name: "input.safetensors")
    do {
        let file = try SafetensorsFile(contentsOf: path)
        for name in file.tensorNames {
            if let tensor = try? file.tensor(named: name) {
                precondition(tensor.values.count == tensor.shape.reduce(1, *), "tensor size does not match its shape")
            }
        }
    } catch {
        _ = error.code
    }
    return 0
}

/// The process entry (see `runFuzzer`).
@_cdecl("FuzzSafetensors_main")
public func fuzzSafetensorsMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, fuzzSafetensors)
}
