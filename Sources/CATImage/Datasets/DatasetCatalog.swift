import CATImageEncoder
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The public routing datasets CATImage knows how to fetch, with their files' SHA-256 checksums.
public enum DatasetCatalog {
    /// One file of a dataset.
    public struct File: Sendable, Equatable {
        /// File name inside the dataset folder.
        public var name: String
        /// SHA-256 (hex) of the file's bytes.
        public var sha256: String
        /// Where the original is published, when it is published as is.
        public var url: String?
    }

    /// A fetchable dataset.
    public struct Entry: Sendable, Equatable {
        /// The name used on the command line and as the folder name.
        public var name: String
        /// One line on what it is.
        public var summary: String
        /// Its files.
        public var files: [File]
        /// Why some files cannot be downloaded, when that is so.
        public var downloadNote: String?
    }

    /// Errors while fetching.
    public struct FetchError: Error, Sendable, CustomStringConvertible {
        /// The class of problem; stable for tests and tools, which map it to their own option names.
        public enum Code: String, Sendable, Equatable {
            /// No dataset of that name is known.
            case unknownDataset
            /// The mirror folder lacks a file.
            case notInMirror
            /// The dataset has no download address: it needs a mirror folder.
            case needsMirror
            /// The download failed (no network, HTTP error): a mirror folder is the way round it.
            case downloadFailed
            /// A file's SHA-256 is not the published one.
            case checksumMismatch
        }

        /// The class of problem.
        public let code: Code
        /// What went wrong, in words a person can act on.
        public let message: String

        init(_ code: Code, _ message: String) {
            self.code = code
            self.message = message
        }

        public var description: String { message }
    }

    // CEMS files are published unchanged in sco-edge/CEMS, Model_Perf/aug_10k/, pinned to one commit.
    private static let cemsBase =
        "https://raw.githubusercontent.com/sco-edge/CEMS/96c8811cf22ce0452da87d3e9c22ae59117e2c8e/Model_Perf/aug_10k/"
    private static let cemsFiles: [(String, String)] = [
        ("clip_score_with_time_SD-Turbo.csv", "e1f0ea73868e2fffe873ec6cf03b75b643c5f38332a2fde15305f144a48321df"),
        ("clip_score_with_time_SDXL-Turbo.csv", "cafd265df517fe6c7d35c323f6836f365061ffe8d02ed0c73dd071e94fe9a983"),
        ("clip_score_with_time_TAESD.csv", "253809a126478ff74037b5bd8046e294602675bdc71856b086fd74465202c5cf"),
        ("clip_score_with_time_amused.csv", "48e95ba6e6d984f37937d9540d48b9c543a622d739e8449fb20a32601918f117"),
        ("nima_score_with_time_SD-Turbo.csv", "9f845cbf7ad7a95d9580deaf7277fe23c6823fef119035f83d17719633cf76ea"),
        ("nima_score_with_time_SDXL-Turbo.csv", "2745425e6589c95d6e8acfea1992958c88129026866543e913bc3110d37eeb5f"),
        ("nima_score_with_time_TAESD.csv", "50ff8cc43d46ba9f24f8731e7a85ee9353b50c3af6db2d7b715ecdc342eecc65"),
        ("nima_score_with_time_amused.csv", "69fd33567a7726d7ae7dd0d0450d54f81c65e5d353a4f5eacec74a5298354810"),
    ]

    /// Every known dataset.
    public static let entries: [Entry] = [
        Entry(
            name: "cems",
            summary: "CEMS (Lee & Lee, CIKM 2024): 10,000 prompts x 4 generators, CLIP and NIMA, measured seconds",
            files: cemsFiles.map { File(name: $0.0, sha256: $0.1, url: cemsBase + $0.0) }, downloadNote: nil),
        Entry(
            name: "evalmi50k",
            summary: "EvalMi-50K (IntMeGroup/LMM4LMM): 2,100 prompts x 24 generators, human ratings, no cost",
            files: [
                File(
                    name: "evalmi50k_long.csv",
                    sha256: "fa8f18762b957f299c8f276417d6ebed24da1015b3be9c39fcc32e2547e4d248", url: nil)
            ],
            downloadNote: """
                EvalMi-50K is published as Excel sheets (MOS&QA/AIGI2025_MOS_yn.xlsx joined with question.xlsx); \
                the long CSV CATImage reads is a conversion, so it is copied from a mirror folder
                """),
    ]

    /// The entry named `name`, or an error listing the known names.
    public static func entry(named name: String) throws(FetchError) -> Entry {
        guard let entry = entries.first(where: { $0.name == name }) else {
            throw FetchError(
                .unknownDataset, "unknown dataset '\(name)'; known: \(entries.map(\.name).joined(separator: ", "))")
        }
        return entry
    }

    /// The default folder datasets are fetched into: `$CATIMAGE_DATA_DIR`, else `~/.cache/catimage/datasets`.
    public static var defaultDataDirectory: String {
        if let value = ProcessInfo.processInfo.environment["CATIMAGE_DATA_DIR"], !value.isEmpty { return value }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/catimage/datasets").path
    }

    /// Fetches `entry` into `<dataDirectory>/<name>/`: copies from `mirror/<name>/` when a mirror is given,
    /// else downloads from the original repository. Every file is checked against its SHA-256 and written
    /// atomically; files already present with the right checksum are kept. Returns the dataset folder.
    public static func fetch(
        _ entry: Entry, into dataDirectory: String, mirror: String?, log: @Sendable (String) -> Void
    ) async throws -> String {
        let target = URL(fileURLWithPath: dataDirectory).appendingPathComponent(entry.name)
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        for file in entry.files {
            let destination = target.appendingPathComponent(file.name)
            if let existing = FileManager.default.contents(atPath: destination.path),
                SHA256.hexDigest(of: existing) == file.sha256
            {
                log("\(file.name): present, checksum verified")
                continue
            }
            let data: Data
            if let mirror {
                let source = URL(fileURLWithPath: mirror).appendingPathComponent(entry.name)
                    .appendingPathComponent(file.name)
                guard let contents = FileManager.default.contents(atPath: source.path) else {
                    throw FetchError(.notInMirror, "\(source.path): not found in the mirror folder")
                }
                data = contents
                log("\(file.name): copied from \(source.path)")
            } else {
                guard let address = file.url, let url = URL(string: address) else {
                    throw FetchError(
                        .needsMirror,
                        "\(entry.name): \(entry.downloadNote ?? "no download address"); copy it from a mirror folder "
                            + "that holds \(entry.name)/")
                }
                data = try await download(url, fileName: file.name)
                log("\(file.name): downloaded \(data.count) bytes")
            }
            let digest = SHA256.hexDigest(of: data)
            guard digest == file.sha256 else {
                throw FetchError(
                    .checksumMismatch,
                    "\(file.name): checksum mismatch (got \(digest), expected \(file.sha256)); nothing written")
            }
            try data.write(to: destination, options: .atomic)
        }
        return target.path
    }

    private static func download(_ url: URL, fileName: String) async throws -> Data {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        let session = URLSession(configuration: configuration)
        do {
            let (data, response) = try await session.data(from: url)
            if let http = response as? HTTPURLResponse, http.statusCode != 200 {
                throw FetchError(.downloadFailed, "\(url.absoluteString): HTTP \(http.statusCode)")
            }
            return data
        } catch let error as FetchError {
            throw error
        } catch {
            throw FetchError(
                .downloadFailed,
                "could not download \(fileName) from \(url.host ?? url.absoluteString) "
                    + "(\(error.localizedDescription)); without network, copy it from a local mirror folder")
        }
    }
}
