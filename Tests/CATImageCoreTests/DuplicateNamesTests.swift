import Foundation
import Testing

@testable import CATImageCore

@Suite("Names given twice in input files")
struct DuplicateNamesTests {
    @Test("a header naming a column twice is an error naming both positions")
    func duplicateHeaderColumn() {
        #expect {
            _ = try CSVTable(reader: CSVReader(bytes: Array("id,text,score,text\n1,a,2,b\n".utf8), source: "d.csv"))
        } throws: { error in
            guard let error = error as? DatasetError else { return false }
            return error.code == .duplicateColumn && error.file == "d.csv" && error.line == 1
                && error.column == "text" && error.message.contains("fields 2 and 4")
        }
    }

    @Test("names differing only by surrounding spaces are the same column")
    func duplicateAfterTrimming() {
        #expect(throws: DatasetError.self) {
            _ = try CSVTable(reader: CSVReader(bytes: Array("model, model\nA,B\n".utf8), source: "d.csv"))
        }
    }

    @Test("the long-CSV loader rejects a duplicated column instead of reading the first one")
    func loaderRejectsDuplicate() throws {
        var report = DatasetLoadReport()
        let path = TestSupport.temporaryFile("id,text,model,score,score\n1,a,A,1,9\n1,a,B,2,9\n")
        let columns = LongCSVColumns(prompt: "text", generator: "model", quality: "score", id: "id")
        #expect {
            _ = try RoutingDataset.loadLongCSV(path, columns: columns, missing: .drop, report: &report)
        } throws: { error in
            (error as? DatasetError)?.code == .duplicateColumn
        }
    }

    @Test("a cost table naming a generator twice is an error naming both lines")
    func duplicateCostTableGenerator() throws {
        var report = DatasetLoadReport()
        let columns = LongCSVColumns(prompt: "text", generator: "model", quality: "score", id: "id")
        var dataset = try RoutingDataset.loadLongCSV(
            TestSupport.temporaryFile("id,text,model,score\n1,a,A,1\n1,a,B,2\n"), columns: columns,
            missing: .drop, report: &report)
        let table = TestSupport.temporaryFile("generator,cost\nA,1\nB,2\nA,3\n")
        #expect {
            try dataset.applyCostTable(table)
        } throws: { error in
            guard let error = error as? DatasetError else { return false }
            return error.code == .duplicateGenerator && error.line == 4 && error.value == "A"
                && error.message.contains("lines 2 and 4")
        }
        #expect(dataset.generators.allSatisfy { $0.cost == nil }, "a rejected table changes nothing")
    }
}
