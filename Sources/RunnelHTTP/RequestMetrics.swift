import HTTPTypes
public import Hummingbird
import Metrics

/// Counts requests and times them by listener, method, route template and status (`runnel_http_requests_total`,
/// `runnel_http_request_duration_seconds`). The route is the template a request matched (`/topics/{topic}`), never
/// the raw path, so the number of series stays bounded; a request that matched no route counts as `NotFound` (the
/// router's name for it).
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let listener: String

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
        let route = context.endpointPath ?? "NotFound"
        let method = request.method.rawValue
        Counter(
            label: "runnel_http_requests_total",
            dimensions: [("listener", listener), ("method", method), ("route", route), ("status", String(status))]
        ).increment()
        Timer(
            label: "runnel_http_request_duration_seconds",
            dimensions: [("listener", listener), ("method", method), ("route", route)]
        ).recordInterval(since: start)
    }
}

extension Timer {
    /// Records the time elapsed since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
