import NIOConcurrencyHelpers

/// Opaque image tokens: the rating page names images by a random token, never by generator, render id or hash
/// (ids are assigned in collection order, which could give the generator away).
///
/// A token is made the first time a render is shown and lives as long as the server; after a restart the page
/// asks for its prompt again and gets new tokens. Only shown renders have tokens, so the page can rate nothing else.
public final class RenderTokens: Sendable {
    private struct Tables {
        var tokenByRender: [Int64: String] = [:]
        var renderByToken: [String: Int64] = [:]
    }
    private let tables = NIOLockedValueBox(Tables())

    public init() {}

    /// The token of `renderID`, made now if it has none.
    public func token(for renderID: Int64) -> String {
        tables.withLockedValue { tables in
            if let token = tables.tokenByRender[renderID] { return token }
            var token = Self.randomToken()
            while tables.renderByToken[token] != nil { token = Self.randomToken() }
            tables.tokenByRender[renderID] = token
            tables.renderByToken[token] = renderID
            return token
        }
    }

    /// The render a token stands for, or `nil` for a token this server never handed out.
    public func renderID(for token: String) -> Int64? {
        tables.withLockedValue { $0.renderByToken[token] }
    }

    /// 128 random bits as 32 lowercase hex digits.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<32).map { _ in digits[Int(generator.next() % 16)] })
    }
}
