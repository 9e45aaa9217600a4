import ArgumentParser

/// The subcommands of `catimage`, in the order `--help` lists them.
enum CommandRegistry {
    static let all: [any ParsableCommand.Type] = [
        DatasetCommand.self,
        TrainCommand.self,
        EvaluateCommand.self,
        RouteCommand.self,
        ModelCommand.self,
        EmbedCommand.self,
        BenchCommand.self,
        ServeCommand.self,
        LogCommand.self,
        CollectCommand.self,
        ScoreCommand.self,
        RateCommand.self,
    ]
}
