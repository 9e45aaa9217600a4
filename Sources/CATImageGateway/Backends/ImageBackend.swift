import AsyncHTTPClient
import Foundation
import NIOCore

/// Why one attempt at a backend failed.
public struct BackendFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// No answer within the backend's timeout.
        case timeout
        /// The connection could not be made or broke.
        case connection
        /// The backend answered with an HTTP error status.
        case httpStatus = "http_status"
        /// The backend answered 2xx with a body that is not a valid image response.
        case invalidResponse = "invalid_response"
    }

    public var reason: Reason
    public var status: Int?
    public var message: String

    /// Timeouts, broken connections, 429 and 5xx may succeed on a later attempt.
    public var isRetryable: Bool {
        switch reason {
        case .timeout, .connection: true
        case .httpStatus: status.map { $0 == 429 || $0 >= 500 } ?? false
        case .invalidResponse: false
        }
    }

    public var description: String {
        switch reason {
        case .httpStatus: "HTTP \(status ?? 0): \(message)"
        default: "\(reason.rawValue): \(message)"
        }
    }
}

/// An image size `WIDTHxHEIGHT` from an OpenAI-style request.
public struct ImageSize: Sendable, Equatable {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// Parses `512x512`; `nil` when malformed or outside 8...8192.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]),
            (8...8192).contains(width), (8...8192).contains(height)
        else { return nil }
        self.init(width: width, height: height)
    }

    public var text: String { "\(width)x\(height)" }
}

/// A generation server for one generator: turns a prompt into base64-encoded PNG images.
public struct ImageBackend: Sendable {
    public let generator: String
    public let config: GatewayConfig.Backend
    private let apiKey: String?

    /// - Parameter environment: where an OpenAI backend's API key variable is read.
    public init(generator: String, config: GatewayConfig.Backend, environment: [String: String]) {
        self.generator = generator
        self.config = config
        if case .openAIImages(_, let variable?) = config.kind {
            apiKey = environment[variable]
        } else {
            apiKey = nil
        }
    }

    /// `kind url`, as the decision log records it.
    public var label: String { "\(config.kindName) \(config.baseURL)" }

    /// One attempt: sends the request and decodes the images, or throws why it failed.
    public func generate(
        prompt: String, count: Int, size: ImageSize?, client: HTTPClient, maxResponseBytes: Int
    ) async throws(BackendFailure) -> [String] {
        try await render(prompt: prompt, count: count, size: size, client: client, maxResponseBytes: maxResponseBytes)
            .images
    }

    /// What one successful attempt returned.
    public struct Rendered: Sendable {
        /// Base64-encoded PNG images.
        public var images: [String]
        /// The backend's own timing, when its protocol reports one: A1111's `X-Process-Time` header (seconds),
        /// OpenAI's `openai-processing-ms` header.
        public var backendSeconds: Double?
    }

    /// One attempt, with a seed for backends that take one (A1111's `seed`; OpenAI's API has none, so it is not
    /// sent) and the backend's own timing.
    public func render(
        prompt: String, count: Int, size: ImageSize?, seed: Int? = nil, client: HTTPClient, maxResponseBytes: Int
    ) async throws(BackendFailure) -> Rendered {
        var request: HTTPClientRequest
        let body: [String: Any]
        switch config.kind {
        case .openAIImages(let model, _):
            request = HTTPClientRequest(url: config.baseURL + "/images/generations")
            var fields: [String: Any] = [
                "model": model, "prompt": prompt, "n": count, "response_format": "b64_json",
            ]
            if let size { fields["size"] = size.text }
            body = fields
            if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        case .a1111(let parameters):
            request = HTTPClientRequest(url: config.baseURL + "/sdapi/v1/txt2img")
            var fields: [String: Any] = [
                "prompt": prompt, "steps": parameters.steps, "cfg_scale": parameters.cfgScale,
                "sampler_name": parameters.samplerName, "width": size?.width ?? parameters.width,
                "height": size?.height ?? parameters.height, "batch_size": count, "n_iter": 1,
            ]
            if let seed { fields["seed"] = seed }
            body = fields
        }
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        do {
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        } catch {
            throw BackendFailure(reason: .invalidResponse, message: "cannot encode the request: \(error)")
        }

        let responseBody: ByteBuffer
        let status: Int
        var backendSeconds: Double?
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(config.timeoutSeconds * 1e9)))
            status = Int(response.status.code)
            if let value = response.headers.first(name: "x-process-time").flatMap(Double.init), value.isFinite {
                backendSeconds = value
            } else if let value = response.headers.first(name: "openai-processing-ms").flatMap(Double.init),
                value.isFinite
            {
                backendSeconds = value / 1000
            }
            responseBody = try await response.body.collect(upTo: maxResponseBytes)
        } catch let error as HTTPClientError
            where error == .deadlineExceeded || error == .readTimeout
            || error == .connectTimeout
        {
            throw BackendFailure(reason: .timeout, message: "no answer within \(config.timeoutSeconds) s")
        } catch is NIOTooManyBytesError {
            throw BackendFailure(reason: .invalidResponse, message: "response larger than \(maxResponseBytes) bytes")
        } catch {
            throw BackendFailure(reason: .connection, message: "\(error)")
        }
        guard (200..<300).contains(status) else {
            let text = String(buffer: responseBody).prefix(200)
            throw BackendFailure(reason: .httpStatus, status: status, message: String(text))
        }
        return Rendered(images: try decodeImages(responseBody, expected: count), backendSeconds: backendSeconds)
    }

    private func decodeImages(_ body: ByteBuffer, expected: Int) throws(BackendFailure) -> [String] {
        let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))
        var images: [String] = []
        switch config.kind {
        case .openAIImages:
            let data = (object as? [String: Any])?["data"] as? [[String: Any]]
            images = data?.compactMap { $0["b64_json"] as? String } ?? []
        case .a1111:
            images = (object as? [String: Any])?["images"] as? [String] ?? []
        }
        guard !images.isEmpty else {
            throw BackendFailure(reason: .invalidResponse, message: "no base64 images in the response")
        }
        for image in images {
            guard let bytes = Data(base64Encoded: image), bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) else {
                throw BackendFailure(reason: .invalidResponse, message: "an image is not base64-encoded PNG")
            }
        }
        return Array(images.prefix(expected))
    }
}
