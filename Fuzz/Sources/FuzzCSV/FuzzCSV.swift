import CATImage
import FuzzSupport

/// The CSV reader and table: any bytes give records or a `DatasetError`, never a trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    do {
        let table = try CSVTable(reader: CSVReader(bytes: bytes, source: "fuzz.csv"))
        precondition(table.rows.allSatisfy { $0.fields.count == table.header.count }, "ragged row accepted")
    } catch {
        // A DatasetError is the contract; `catch` is typed, so nothing else can arrive here.
        _ = error.code
    }
    return 0
}

/// The process entry (see `runFuzzer`).
@_cdecl("FuzzCSV_main")
public func fuzzCSVMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, fuzzCSV)
}
