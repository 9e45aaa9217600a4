import ArgumentParser
import CATImage
import CATImageCore

/// The `catimage` root command: every subcommand of the offline workflow and the gateway.
@main
struct CATImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catimage",
        abstract: "Cost-aware routing of text-to-image prompts to generators.",
        discussion: """
            CATImage learns, from prompts rendered by every generator and scored by a quality metric, \
            which generator to use for each new prompt so that quality stays high while cost falls \
            (Li et al., 2025, "Cost-Aware Routing for Efficient Text-To-Image Generation").

            Typical workflow (scripts/study.sh runs it end to end):
              catimage model fetch
              catimage dataset inspect --cems ../shared/datasets/cems
              catimage evaluate --cems ../shared/datasets/cems \\
                --estimator knn,kernel+ridge --folds 5 --html report.html
              catimage train --cems ../shared/datasets/cems \\
                --estimator kernel+ridge --budget 0.3 -o router.catimage
              catimage route --router router.catimage "a red car in the rain"
              catimage serve --config gateway.yaml
            """,
        subcommands: CommandRegistry.all
    )

    /// Runs the command, first restarting with OpenBLAS's faster kernels on a CPU it did not recognise
    /// (``BLASKernels``).
    static func main() async {
        BLASKernels.restartWithFasterKernelsIfNeeded()
        await main(nil)
    }
}
