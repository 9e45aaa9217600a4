import Foundation
import Testing

@testable import CATImageEncoder

@Suite("SHA-256")
struct SHA256Tests {
    @Test(
        "known digests (FIPS 180-2 vectors) including inputs that straddle block boundaries",
        arguments: [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            ),
        ])
    func knownDigests(input: String, digest: String) {
        #expect(SHA256.hexDigest(of: Array(input.utf8)) == digest)
    }

    @Test("a million 'a' fed in uneven pieces gives the FIPS digest")
    func streaming() {
        var hash = SHA256()
        var remaining = 1_000_000
        var piece = 1
        while remaining > 0 {
            let count = min(piece, remaining)
            [UInt8](repeating: 0x61, count: count).withUnsafeBytes { hash.update($0) }
            remaining -= count
            piece = piece * 3 % 1000 + 1
        }
        let hex = hash.finalize().map { String(format: "%02x", $0) }.joined()
        #expect(hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
