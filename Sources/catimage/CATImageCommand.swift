import ArgumentParser
import CATImage

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

            Typical workflow:
              catimage dataset inspect --cems ../shared/datasets/cems --metric clip
              catimage model fetch
              catimage evaluate --cems ../shared/datasets/cems --metric clip --estimator knn --folds 5
              catimage train --cems ../shared/datasets/cems --metric clip -o router.catimage
              catimage route --router router.catimage "a red car in the rain"
            """,
        subcommands: CommandRegistry.all
    )
}
