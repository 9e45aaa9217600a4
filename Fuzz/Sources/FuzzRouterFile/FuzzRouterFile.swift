import CATImage
import Foundation
import FuzzSupport

/// Router files: any bytes read to a configuration and estimator, or throw `RouterFileError`/`EstimatorError`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRouterFile(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data else { return 0 }
    let path = FuzzScratch.write(UnsafeBufferPointer(start: data, count: count), name: "input.catimage")
    do {
        _ = try Router.readFile(contentsOf: path)
    } catch {
        precondition(
            error is RouterFileError || error is EstimatorError, "unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}

/// The process entry (see `runFuzzer`).
@_cdecl("FuzzRouterFile_main")
public func fuzzRouterFileMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, fuzzRouterFile)
}
