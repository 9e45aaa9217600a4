import Foundation

/// A real PNG image (1x1, RGBA), as the stub backends return it; `PNGBytes.isValid` checks what comes back.
enum PNGFixture {
    /// A valid 1x1 PNG, as backends in the tests return it.
    static let base64 =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

    static var bytes: [UInt8] { Array(Data(base64Encoded: base64) ?? Data()) }
}
