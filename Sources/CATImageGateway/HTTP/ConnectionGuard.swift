import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Hummingbird's HTTP/1 server with three protections it lacks: a header-read timeout (first byte to the end of the
/// headers), a body-read timeout (end of the headers to the end of the body; 408 and close), and closing the
/// connection right after any response sent before the request body was read to its end (a 413, a refusal, a
/// malformed length), instead of reading the rest of the body.
///
/// That close is a short lingering close, as nginx does: the response and a FIN go out, then at most
/// ``ConnectionDeadlines/lingerBytes`` more bytes are discarded unparsed for at most
/// ``ConnectionDeadlines/lingerTimeout`` before the socket is closed. Closing with unread bytes in the kernel's
/// buffer would send a reset that destroys the response before a client still writing its body could read it.
///
/// Hummingbird supplies the idle timeout (``HTTP1Channel/Configuration/idleTimeout``) and the connection cap
/// (``MaximumAvailableConnections``); this adds a handler ahead of the HTTP decoder that sees raw bytes, and one
/// after it that sees request and response parts. Both share a per-connection ``ConnectionDeadlines``.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let configuration: HTTP1Channel.Configuration
    let headerTimeout: TimeAmount
    let bodyTimeout: TimeAmount
    private let base: HTTP1Channel

    init(
        responder: @escaping HTTPChannelHandler.Responder, configuration: HTTP1Channel.Configuration,
        headerTimeout: TimeAmount, bodyTimeout: TimeAmount
    ) {
        self.responder = responder
        self.configuration = configuration
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.base = HTTP1Channel(responder: responder, configuration: configuration)
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let eventLoop = channel.eventLoop
        let headerTimeout = headerTimeout
        let bodyTimeout = bodyTimeout
        let configuration = configuration
        let responder = responder
        return eventLoop.makeCompletedFuture {
            let deadlines = ConnectionDeadlines(headerTimeout: headerTimeout, bodyTimeout: bodyTimeout)
            try channel.pipeline.syncOperations.addHandler(RawReadWatcher(deadlines: deadlines), position: .first)
            // The parts handler is created here, on the channel's event loop, and handed to Hummingbird's
            // (Sendable) handler factory bound to that loop, where Hummingbird calls it during this same setup.
            let parts = NIOLoopBound(RequestDeadlineHandler(deadlines: deadlines), eventLoop: eventLoop)
            var perConnection = configuration
            let extra = configuration.additionalChannelHandlers
            perConnection.additionalChannelHandlers = { extra() + [parts.value] }
            return HTTP1Channel(responder: responder, configuration: perConnection)
        }.flatMap { inner in
            inner.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// The read deadlines of one connection. Used only on the connection's event loop.
final class ConnectionDeadlines {
    enum Phase {
        /// Between requests: no byte of the next one yet.
        case idle
        /// Bytes arrived; the headers are not complete.
        case readingHead
        /// Headers complete; the body is not.
        case readingBody
        /// The request was read; its response is being produced.
        case responding
    }

    let headerTimeout: TimeAmount
    let bodyTimeout: TimeAmount
    var phase = Phase.idle
    /// Set when a response head went out before the request's end: close once the response is written.
    var closeAfterResponse = false
    /// Set once the early response is written: further bytes are discarded unparsed until the close.
    var lingering = false
    var lingerDiscarded = 0
    /// Most bytes discarded, and longest wait, between the early response and the close.
    let lingerBytes = 1 << 20
    let lingerTimeout = TimeAmount.seconds(1)
    private var timer: Scheduled<Void>?

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    func schedule(on eventLoop: any EventLoop, in delay: TimeAmount, _ action: @escaping () -> Void) {
        timer?.cancel()
        timer = eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: delay, action)
    }

    func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}

/// Ahead of the HTTP decoder: the first byte of a request starts the header-read deadline.
final class RawReadWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let deadlines: ConnectionDeadlines

    init(deadlines: ConnectionDeadlines) { self.deadlines = deadlines }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if deadlines.lingering {
            deadlines.lingerDiscarded += unwrapInboundIn(data).readableBytes
            if deadlines.lingerDiscarded > deadlines.lingerBytes { context.close(promise: nil) }
            return
        }
        if deadlines.phase == .idle {
            deadlines.phase = .readingHead
            let channel = context.channel
            deadlines.schedule(on: context.eventLoop, in: deadlines.headerTimeout) {
                // Headers still incomplete: a slow (or slowloris) client; nothing useful can be answered.
                channel.close(promise: nil)
            }
        }
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadlines.cancelTimer()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadlines.cancelTimer()
        context.fireChannelInactive()
    }
}

/// After the HTTP decoder: the body-read deadline, and closing instead of draining an unread body.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let deadlines: ConnectionDeadlines
    /// A response head was written (by the application or by the body timeout).
    private var responseStarted = false

    init(deadlines: ConnectionDeadlines) { self.deadlines = deadlines }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadlines.phase = .readingBody
            responseStarted = false
            deadlines.schedule(on: context.eventLoop, in: deadlines.bodyTimeout) { [weak self] in
                self?.bodyTimedOut(context: context)
            }
        case .body:
            break
        case .end:
            deadlines.cancelTimer()
            deadlines.phase = .responding
        }
        context.fireChannelRead(data)
    }

    /// The body did not arrive in time (a stalled upload, or a Content-Length larger than what was sent): answer 408
    /// unless a response already started, then close.
    private func bodyTimedOut(context: ChannelHandlerContext) {
        guard deadlines.phase == .readingBody else { return }
        if !responseStarted {
            responseStarted = true
            let body = ByteBuffer(
                string:
                    #"{"error":{"code":"body_timeout","message":"the request body did not arrive in time","type":"invalid_request_error"}}"#
            )
            let head = HTTPResponse(
                status: .requestTimeout,
                headerFields: [
                    .connection: "close", .contentType: "application/json; charset=utf-8",
                    .contentLength: "\(body.readableBytes)",
                ])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(body)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            responseStarted = true
            if deadlines.phase == .readingHead || deadlines.phase == .readingBody {
                // Answered before the body was read (413, 401, 429, 503...): never read the rest; close after.
                deadlines.closeAfterResponse = true
                deadlines.cancelTimer()
                head.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            if deadlines.closeAfterResponse {
                context.writeAndFlush(data, promise: promise)
                // Response then FIN; the rest of the body is discarded unparsed, briefly, then the socket closes.
                deadlines.lingering = true
                context.close(mode: .output, promise: nil)
                let channel = context.channel
                deadlines.schedule(on: context.eventLoop, in: deadlines.lingerTimeout) {
                    channel.close(promise: nil)
                }
                return
            }
            if deadlines.phase == .responding { deadlines.phase = .idle }
            context.write(data, promise: promise)
        }
    }
}
