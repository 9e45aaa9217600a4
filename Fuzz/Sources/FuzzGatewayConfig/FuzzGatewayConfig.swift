import CATImageGateway
import FuzzSupport

/// The gateway's YAML config: any bytes give a validated `GatewayConfig` or a `ConfigError` naming the place,
/// never a trap. The first byte picks whether `tokens_env` can find its variable.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGatewayConfig(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data, count > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: count)
    let environment = bytes[0] % 2 == 0 ? [:] : ["CATIMAGE_TOKENS": "a,b"]
    let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
    do {
        let config = try GatewayConfig.parse(
            yaml: text, file: "fuzz.yaml", baseDirectory: "/tmp", environment: environment)
        precondition(!config.generators.isEmpty, "a config without generators was accepted")
    } catch {
        precondition(!error.description.isEmpty, "an error without a message")
    }
    return 0
}

/// The process entry (see `runFuzzer`).
@_cdecl("FuzzGatewayConfig_main")
public func fuzzGatewayConfigMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, fuzzGatewayConfig)
}
