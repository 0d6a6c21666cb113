import HTTPTypes
public import Hummingbird
import Logging
import Metrics
import RunnelJSON
import Synchronization

/// Counts requests and times them by listener, method, route template and status (`runnel_http_requests_total`,
/// `runnel_http_request_duration_seconds`). The route is the template a request matched (`/topics/{topic}`), never
/// the raw path, so the number of series stays bounded; a request that matched no route counts as `NotFound` (the
/// router's name for it). Each request is also logged at `debug` (method, path, status, milliseconds) on the
/// request's logger.
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let listener: String
    private let handlers = Handlers()

    /// The counter and timer of each (route, method, status) seen, made once: a lookup here costs less than asking
    /// the metrics factory on every request.
    final class Handlers: Sendable {
        struct Key: Hashable {
            var route: String
            var method: String
            var status: Int
        }

        let entries = Mutex<[Key: (Counter, Timer)]>([:])
    }

    public init(listener: String) {
        self.listener = listener
    }

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let status: Int
        do {
            let response = try await next(request, context)
            status = response.status.code
            record(request, context: context, status: status, since: start)
            return response
        } catch {
            status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(request, context: context, status: status, since: start)
            throw error
        }
    }

    private func record(_ request: Request, context: Context, status: Int, since start: ContinuousClock.Instant) {
        let key = Handlers.Key(
            route: context.endpointPath ?? "NotFound",
            method: request.method.rawValue,
            status: status
        )
        let listener = self.listener
        let (counter, timer) = handlers.entries.withLock { entries in
            if let found = entries[key] { return found }
            let made = (
                Counter(
                    label: "runnel_http_requests_total",
                    dimensions: [
                        ("listener", listener), ("method", key.method), ("route", key.route),
                        ("status", String(status)),
                    ]
                ),
                Timer(
                    label: "runnel_http_request_duration_seconds",
                    dimensions: [("listener", listener), ("method", key.method), ("route", key.route)]
                )
            )
            entries[key] = made
            return made
        }
        let elapsed = ContinuousClock.now - start
        counter.increment()
        timer.record(duration: elapsed)
        if context.logger.logLevel <= .debug {
            let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            context.logger.debug(
                "Request",
                metadata: [
                    "listener": "\(listener)", "method": "\(key.method)", "path": "\(request.uri.path)",
                    "route": "\(key.route)", "status": "\(status)", "ms": "\((milliseconds * 10).rounded() / 10)",
                ]
            )
        }
    }
}
