import CATImage
import CATImageEncoder
import Foundation
import FuzzSupport

/// The tokenizer: `tokenizer.json` variants load or throw `TokenizerError`; any text encodes within the limit.
/// The first input byte picks the mode: even, the bytes are a `tokenizer.json`; odd, a prompt for the MiniLM
/// tokenizer found through `CATIMAGE_MODEL_DIR`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizer(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: count)
    guard let mode = bytes.first else { return 0 }
    if mode % 2 == 0 {
        let path = FuzzScratch.write(UnsafeBufferPointer(rebasing: bytes.dropFirst()), name: "tokenizer.json")
        do {
            let tokenizer = try BertTokenizer(tokenizerJSON: path)
            precondition(tokenizer.encode("a photo of a cat", maxLength: 16).count <= 16, "over the length limit")
        } catch {
            _ = error.message
        }
    } else if let tokenizer = FuzzTokenizerModel.shared {
        let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
        for limit in [2, 16, 256] {
            let ids = tokenizer.encode(text, maxLength: limit)
            precondition(ids.count <= limit && ids.count >= 2, "encoded length \(ids.count) outside 2...\(limit)")
        }
    }
    return 0
}

enum FuzzTokenizerModel {
    static let shared: BertTokenizer? = {
        guard let directory = ProcessInfo.processInfo.environment["CATIMAGE_MODEL_DIR"] else { return nil }
        return try? BertTokenizer(directory: directory)
    }()
}

/// The process entry (see `runFuzzer`).
@_cdecl("FuzzTokenizer_main")
public func fuzzTokenizerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, fuzzTokenizer)
}
