public import HTTPTypes
public import Hummingbird
import NIOCore
public import RunnelJSON

/// An error answered to an HTTP client as `{"error_code": N, "message": "..."}`, the body Confluent REST Proxy and
/// Kafka Connect both use. `errorCode` is Confluent's five-digit code (e.g. 40401) or the HTTP status.
public struct APIError: Error, Sendable, CustomStringConvertible, HTTPResponseError {
    public let status: HTTPResponse.Status
    public let errorCode: Int
    public let message: String

    /// A server-side failure (5xx) never shows the server's file paths: each is cut to its last component
    /// (`open /srv/runnel-data/logs/t-0/00000000000000000000.log: ...` reads `open 00000000000000000000.log: ...`).
    public init(_ status: HTTPResponse.Status, _ errorCode: Int? = nil, _ message: String) {
        self.status = status
        self.errorCode = errorCode ?? status.code
        self.message = status.code >= 500 ? Self.withoutPaths(message) : message
    }

    /// `text` with every absolute or relative path (`/a/b`, `./a/b`, `../a`, `~/a`) replaced by its last component.
    static func withoutPaths(_ text: String) -> String {
        var result = ""
        var token = ""
        func flush() {
            let isPath =
                (token.hasPrefix("/") || token.hasPrefix("./") || token.hasPrefix("../") || token.hasPrefix("~/"))
                && token.dropFirst().contains("/")
            if isPath {
                let trimmed = token.reversed().drop { ":,;)'\"".contains($0) }
                let tail = token.dropFirst(trimmed.count)
                let path = String(trimmed.reversed())
                result += (path.split(separator: "/").last.map(String.init) ?? path) + tail
            } else {
                result += token
            }
            token = ""
        }
        for character in text {
            if character == " " || character == "\n" || character == "\t" || character == "(" || character == "'"
                || character == "\"" || character == "="
            {
                flush()
                result.append(character)
            } else {
                token.append(character)
            }
        }
        flush()
        return result
    }

    public var description: String { "\(errorCode): \(message)" }

    public var body: JSONValue { ["error_code": .int(errorCode), "message": .string(message)] }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response(contentType: MediaType.preferredErrorType(for: request))
    }

    public func response(contentType: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        // A busy server (a quota, the fetch memory, failed logins) says when to try again; callers may say longer.
        if status == .tooManyRequests { headers[.retryAfter] = "1" }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body.bytes))
    }

    // MARK: Errors every API shares

    public static func badRequest(_ message: String) -> APIError { APIError(.badRequest, 400, message) }
    public static func notFound(_ message: String) -> APIError { APIError(.notFound, 404, message) }

    /// Malformed JSON in a request body.
    public static func malformedJSON(_ error: JSONError) -> APIError {
        APIError(.badRequest, 400, "Unexpected JSON: \(error.description)")
    }

    public static func unsupportedMediaType(_ contentType: String?) -> APIError {
        APIError(.unsupportedMediaType, 415, "HTTP 415 Unsupported Media Type: \(contentType ?? "no Content-Type")")
    }

    public static func notAcceptable(_ accept: String?) -> APIError {
        APIError(.notAcceptable, 406, "HTTP 406 Not Acceptable: \(accept ?? "")")
    }
}

/// Media types and the choice of an error body's type.
public enum MediaType {
    public static let json = "application/json"

    /// The media type without parameters (`application/json; charset=utf-8` → `application/json`); callers lowercase
    /// it to compare.
    public static func essence(_ value: String) -> Substring {
        let end = value.firstIndex(of: ";") ?? value.endIndex
        return value[..<end].trimmingWhitespace()
    }

    /// The types listed in an Accept header, in order, without parameters; empty when there is none.
    public static func accepted(_ request: Request) -> [Substring] {
        guard let accept = request.headers[.accept] else { return [] }
        return accept.split(separator: ",").map { essence(String($0)) }.filter { !$0.isEmpty }
    }

    /// Errors answer in a v2 type when the client asked for one, otherwise in plain JSON.
    public static func preferredErrorType(for request: Request) -> String {
        for type in accepted(request) where type.lowercased().hasPrefix("application/vnd.kafka") {
            return "application/vnd.kafka.v2+json"
        }
        return json
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
