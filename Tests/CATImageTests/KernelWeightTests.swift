import CATImage
import CATImageCore
import Foundation
import Testing

struct KernelWeightTests {
    @Test("the kernel estimator weighs training prompts by exp(cos/τ), one query or a batch")
    func kernelWeights() {
        // Two unit training vectors with targets 0 and 1; a query at cosines 0.8 and 0.6 with τ = 0.1 weighs them
        // e^8 and e^6: prediction e^6 / (e^8 + e^6).
        let kernel = NeighborEstimator(
            spec: .kernel(tau: 0.1), features: Matrix(rows: 2, columns: 2, storage: [1, 0, 0, 1]),
            targets: Matrix(rows: 2, columns: 1, storage: [0, 1]))
        let prediction = kernel.predict(Matrix(rows: 1, columns: 2, storage: [0.8, 0.6]))
        let expected = 1 / (1 + Foundation.exp(2.0))
        #expect(abs(prediction[0][0] - expected) < 1e-6)
        // A batch (SGEMM) gives what one query at a time (SGEMV) gives.
        let batch = kernel.predict(Matrix(rows: 2, columns: 2, storage: [0.8, 0.6, 0.6, 0.8]))
        #expect(abs(batch[0][0] - prediction[0][0]) < 1e-9)
        #expect(abs(batch[1][0] - (1 - expected)) < 1e-6)
    }
}
