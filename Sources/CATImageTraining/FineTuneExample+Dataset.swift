import CATImageCore
import CATImageEncoder

extension FineTuneExample {
    /// The examples of `dataset`'s prompts at `indices` (all by default), tokenized to at most `maxTokens` ids.
    ///
    /// Datasets without any cost get zero costs: the validation curve then only measures quality at λ = 0.
    public static func examples(
        of dataset: RoutingDataset, indices: [Int]? = nil, tokenizer: BertTokenizer, maxTokens: Int
    ) -> [FineTuneExample] {
        let rows = indices ?? Array(0..<dataset.promptCount)
        let quality = dataset.qualityRows(rows)
        let cost = dataset.costRows(rows)
        return rows.indices.map { k in
            FineTuneExample(
                tokens: tokenizer.encode(dataset.prompts[rows[k]].text, maxLength: maxTokens), quality: quality[k],
                cost: cost[k])
        }
    }
}
