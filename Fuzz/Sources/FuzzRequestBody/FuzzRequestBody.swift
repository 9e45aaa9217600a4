import CATImageGateway
import FuzzSupport

/// The `/v1/route` and `/v1/images/generations` bodies: any bytes give a checked prompt or a 400 `GatewayError`
/// with a code, never a trap. The first byte picks the endpoint.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestBody(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data, count > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: count)
    let endpoint: RequestBodyParsing.Endpoint = bytes[0] % 2 == 0 ? .route : .images
    do {
        let prompt = try RequestBodyParsing.prompt(of: Array(bytes.dropFirst()), endpoint: endpoint, maxPromptChars: 64)
        precondition(prompt.count <= 64, "a prompt over the limit was accepted")
    } catch let error as GatewayError {
        precondition(error.status.code == 400, "a body error other than 400: \(error)")
    } catch {
        preconditionFailure("an error outside the contract: \(error)")
    }
    return 0
}

/// The process entry (see `runFuzzer`).
@_cdecl("FuzzRequestBody_main")
public func fuzzRequestBodyMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, fuzzRequestBody)
}
