/// The post-processor of a single-sequence BERT input (`TemplateProcessing` `[CLS] $A [SEP]` in
/// `tokenizer.json`), with the truncation sentence-transformers asks for: at most `maxLength` ids in all, the
/// tail of the sequence dropped and `[SEP]` kept.
public struct BertPostProcessor: Sendable, Equatable {
    /// The id put first (`[CLS]`).
    public let classifierTokenID: Int32
    /// The id put last (`[SEP]`).
    public let separatorTokenID: Int32

    /// A post-processor with the given special ids.
    public init(classifierTokenID: Int32, separatorTokenID: Int32) {
        self.classifierTokenID = classifierTokenID
        self.separatorTokenID = separatorTokenID
    }

    /// `[CLS] ids [SEP]`, with `ids` cut so that the result holds at most `maxLength` ids (at least 2).
    public func process(_ ids: [Int32], maxLength: Int) -> [Int32] {
        precondition(maxLength >= 2, "max length \(maxLength) cannot hold [CLS] and [SEP]")
        let kept = min(ids.count, maxLength - 2)
        var result: [Int32] = []
        result.reserveCapacity(kept + 2)
        result.append(classifierTokenID)
        result.append(contentsOf: ids[..<kept])
        result.append(separatorTokenID)
        return result
    }
}
