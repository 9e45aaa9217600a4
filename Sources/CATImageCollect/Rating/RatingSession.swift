import Foundation

/// What one rater sees: progress over the collection's prompts and one prompt's images, blind and shuffled.
public struct RaterState: Encodable, Sendable, Equatable {
    /// "k of N prompts": finished (every image rated, or skipped) out of the prompts with done images.
    public struct Progress: Encodable, Sendable, Equatable {
        public var done: Int
        public var skipped: Int
        public var total: Int
    }

    /// An image as the page shows it: a token and a URL made from it, nothing that names its generator.
    public struct Image: Encodable, Sendable, Equatable {
        public var token: String
        public var url: String
        /// This rater's rating, if any.
        public var rating: Int?
    }

    /// The prompt on screen.
    public struct Prompt: Encodable, Sendable, Equatable {
        public var id: String
        /// 1-based, among the prompts with done images.
        public var number: Int
        public var text: String
        public var skipped: Bool
        /// Every image has this rater's rating.
        public var complete: Bool
        /// In this rater's order for this prompt.
        public var images: [Image]
    }

    /// The rating an undo removed.
    public struct Undone: Encodable, Sendable, Equatable {
        public var token: String
        public var rating: Int
    }

    public var rater: String
    public var progress: Progress
    /// `nil` when every prompt is finished.
    public var prompt: Prompt?
    public var undone: Undone?
}

/// The rating page's operations over a collection: validation, blind tokens, per-rater order, the store.
public struct RatingSession: Sendable {
    public let store: RatingStore
    public let tokens: RenderTokens

    /// The longest rater name accepted, in characters.
    public static let maximumRaterLength = 100

    public init(store: RatingStore, tokens: RenderTokens = RenderTokens()) {
        self.store = store
        self.tokens = tokens
    }

    /// The rater name, trimmed; an error when it is missing, blank, too long or holds control characters.
    public static func checkedRater(_ rater: String?) throws -> String {
        let name = (rater ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else {
            throw RatingError(.invalidRater, field: "rater", "the rater name is empty; enter a name or rater token")
        }
        guard name.count <= maximumRaterLength else {
            throw RatingError(
                .invalidRater, field: "rater", value: String(name.prefix(40)),
                "the rater name has \(name.count) characters; the limit is \(maximumRaterLength)")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw RatingError(.invalidRater, field: "rater", "the rater name holds control characters")
        }
        return name
    }

    /// A rating from 1 to 5, or an error naming the value. JSON numbers arrive as `Double`, so that 3.5 is reported
    /// as a bad rating rather than as unreadable JSON.
    public static func checkedRating(_ rating: Double?) throws -> Int {
        guard let rating else {
            throw RatingError(.invalidRating, field: "rating", "field 'rating' is required: an integer from 1 to 5")
        }
        guard rating.isFinite, rating == rating.rounded(), (1...5).contains(rating) else {
            let whole = rating.isFinite && abs(rating) < 1e15 && rating == rating.rounded()
            let text = whole ? String(Int(rating)) : String(rating)
            throw RatingError(.invalidRating, field: "rating", value: text, "a rating is an integer from 1 to 5")
        }
        return Int(rating)
    }

    /// The rater's progress and a prompt: `promptID` when given, else the first prompt the rater has not finished.
    public func state(rater: String, promptID: String? = nil) async throws -> RaterState {
        let prompts = try await store.progress(rater: rater)
        let progress = RaterState.Progress(
            done: prompts.count(where: { $0.isFinished }), skipped: prompts.count(where: { $0.skipped }),
            total: prompts.count)
        let index: Int?
        if let promptID {
            guard let found = prompts.firstIndex(where: { $0.promptID == promptID }) else {
                throw RatingError(
                    .unknownPrompt, field: "prompt", value: promptID, "no prompt with this id has images to rate")
            }
            index = found
        } else {
            index = prompts.firstIndex { !$0.isFinished }
        }
        guard let index else { return RaterState(rater: rater, progress: progress, prompt: nil) }
        let prompt = prompts[index]
        let renders = RatingOrder.shuffled(
            try await store.renders(ofPrompt: prompt.promptID, rater: rater), rater: rater, promptID: prompt.promptID)
        let images = renders.map { render in
            let token = tokens.token(for: render.renderID)
            return RaterState.Image(token: token, url: "/api/images/\(token)", rating: render.rating)
        }
        return RaterState(
            rater: rater, progress: progress,
            prompt: .init(
                id: prompt.promptID, number: index + 1, text: prompt.text, skipped: prompt.skipped,
                complete: images.allSatisfy { $0.rating != nil }, images: images))
    }

    /// The render behind a token, or an error for a token this server never handed out.
    public func renderID(forToken token: String?) throws -> Int64 {
        guard let token, !token.isEmpty else {
            throw RatingError(.unknownImage, field: "image", "field 'image' (the image token) is required")
        }
        guard let renderID = tokens.renderID(for: token) else {
            throw RatingError(
                .unknownImage, field: "image", value: token,
                "unknown image token; reload the page (tokens change when the server restarts)")
        }
        return renderID
    }

    /// Stores a rating and returns the state of the rated image's prompt.
    public func rate(rater: String, token: String?, rating: Int) async throws -> RaterState {
        let renderID = try renderID(forToken: token)
        let promptID = try await store.rate(renderID: renderID, rater: rater, rating: rating)
        return try await state(rater: rater, promptID: promptID)
    }

    /// Records a skip and returns the state at the rater's next unfinished prompt.
    public func skip(rater: String, promptID: String?) async throws -> RaterState {
        guard let promptID, !promptID.isEmpty else {
            throw RatingError(.unknownPrompt, field: "prompt", "field 'prompt' (the prompt id) is required")
        }
        guard try await !store.renders(ofPrompt: promptID, rater: rater).isEmpty else {
            throw RatingError(
                .unknownPrompt, field: "prompt", value: promptID, "no prompt with this id has images to rate")
        }
        try await store.skip(promptID: promptID, rater: rater)
        return try await state(rater: rater)
    }

    /// Deletes the rater's last rating and returns the state of its prompt, saying what was undone.
    public func undo(rater: String) async throws -> RaterState {
        guard let undone = try await store.undoLastRating(rater: rater) else {
            throw RatingError(.nothingToUndo, "there is no rating by this rater to undo")
        }
        var state = try await state(rater: rater, promptID: undone.promptID)
        state.undone = .init(token: tokens.token(for: undone.renderID), rating: undone.rating)
        return state
    }

    /// The image file behind a token.
    public func imageFile(forToken token: String) async throws -> URL {
        let renderID = try renderID(forToken: token)
        guard let url = try await store.imageFile(ofRender: renderID),
            FileManager.default.isReadableFile(atPath: url.path)
        else {
            throw RatingError(
                .missingImageFile, field: "image", value: token, "the image file is missing from the collection")
        }
        return url
    }
}
