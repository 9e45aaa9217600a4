import CATImage
import Foundation
import FuzzSupport

/// `.npy` matrices: any bytes read to a matrix of the declared shape or throw `EstimatorError`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumpy(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data else { return 0 }
    let path = FuzzScratch.write(UnsafeBufferPointer(start: data, count: count), name: "input.npy")
    do {
        let matrix = try Matrix.readNumpy(contentsOf: path)
        precondition(matrix.storage.count == matrix.rows * matrix.columns, "matrix size does not match its shape")
    } catch {
        precondition(error is EstimatorError, "unexpected error type \(type(of: error))")
    }
    return 0
}

/// The process entry (see `runFuzzer`).
@_cdecl("FuzzNumpy_main")
public func fuzzNumpyMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, fuzzNumpy)
}
