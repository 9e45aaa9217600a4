import ArgumentParser
import Foundation

@testable import catimage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What one in-process run of `catimage` gave: its exit status, standard output and error message.
struct CommandRun {
    var status: Int32
    var output: String
    var message: String

    /// The JSON object the command printed (other tests of the process may print lines of their own around it).
    func json() throws -> [String: Any] {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("{") }),
            let end = lines[start].hasSuffix("}") ? start : lines.lastIndex(where: { $0.hasPrefix("}") }), start <= end
        else { throw RunnerError("no JSON object in the output:\n\(output)") }
        let text = lines[start...end].joined(separator: "\n")
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw RunnerError("the output's JSON is not an object:\n\(text)")
        }
        return object
    }
}

struct RunnerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Standard output is one file descriptor per process: in-process runs of suites that run in parallel take turns,
/// or one run's redirection steals another's output.
private actor OutputTurn {
    static let shared = OutputTurn()
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }
}

/// Runs `catimage` with `arguments` in this process, as its `main` would: parse, run, map an error to its exit
/// status and message. Standard output goes to a file for the run; runs take turns (``OutputTurn``).
func runCatimage(_ arguments: [String]) async throws -> CommandRun {
    await OutputTurn.shared.acquire()
    do {
        let run = try await runCatimageAlone(arguments)
        await OutputTurn.shared.release()
        return run
    } catch {
        await OutputTurn.shared.release()
        throw error
    }
}

private func runCatimageAlone(_ arguments: [String]) async throws -> CommandRun {
    let capture = FileManager.default.temporaryDirectory.appendingPathComponent("catimage-out-\(UUID().uuidString)")
        .path
    defer { try? FileManager.default.removeItem(atPath: capture) }
    fflush(nil)
    let saved = dup(STDOUT_FILENO)
    let file = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard saved >= 0, file >= 0 else { throw RunnerError("cannot redirect standard output to \(capture)") }
    dup2(file, STDOUT_FILENO)
    close(file)
    var status: Int32 = 0
    var message = ""
    do {
        var command = try CATImageCommand.parseAsRoot(arguments)
        if var asynchronous = command as? any AsyncParsableCommand {
            try await asynchronous.run()
        } else {
            try command.run()
        }
    } catch {
        status = CATImageCommand.exitCode(for: error).rawValue
        message = CATImageCommand.message(for: error)
    }
    fflush(nil)
    dup2(saved, STDOUT_FILENO)
    close(saved)
    let output = (try? String(contentsOfFile: capture, encoding: .utf8)) ?? ""
    return CommandRun(status: status, output: output, message: message)
}
