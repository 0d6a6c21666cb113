public import Hummingbird
import Logging
import RunnelJSON

/// A domain error that knows its answer in the API's error format (mapped where the API's other errors are).
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}

/// Answers every failure in the API's error format: ``APIError``s as they are, the server's own errors (unknown
/// path, wrong method, body too large) with their HTTP status as `error_code`, and anything else as a logged 500
/// whose body says no more than "Internal Server Error".
public struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let contentType = MediaType.preferredErrorType(for: request)
            return Self.apiError(for: error, request: request, logger: context.logger).response(
                contentType: contentType
            )
        }
    }

    static func apiError(for error: any Error, request: Request, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as any APIErrorConvertible:
            return error.apiError
        case let error as JSONError:
            return APIError.malformedJSON(error)
        case let error as HTTPError:
            let status = error.status
            let message =
                error.body.map { "HTTP \(status.code) \(status.reasonPhrase): \($0)" }
                ?? "HTTP \(status.code) \(status.reasonPhrase)"
            return APIError(status, status.code, message)
        case let error as any HTTPResponseError:
            let status = error.status
            return APIError(status, status.code, "HTTP \(status.code) \(status.reasonPhrase)")
        default:
            logger.error(
                "Request failed with an unexpected error",
                metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"]
            )
            return APIError(.internalServerError, 500, "Internal Server Error")
        }
    }
}
