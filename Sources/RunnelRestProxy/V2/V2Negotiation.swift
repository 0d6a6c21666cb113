import HTTPTypes
import Hummingbird
import RunnelHTTP
import RunnelJSON

/// Confluent's v2 content negotiation: which request bodies a route consumes, and which response type it answers.
enum V2Negotiation {
    /// The response type for a metadata or consumer-management route: `application/vnd.kafka.v2+json`, or
    /// `application/json` when the client lists it first. 406 when the Accept header allows neither.
    static func responseType(_ request: Request, allowEmbedded: Bool = true) throws -> String {
        let accepted = MediaType.accepted(request)
        if accepted.isEmpty { return EmbeddedFormat.v2Metadata }
        for type in accepted {
            switch type.lowercased() {
            case "application/json": return MediaType.json
            case "*/*", "application/*", EmbeddedFormat.v2Metadata: return EmbeddedFormat.v2Metadata
            default:
                if allowEmbedded, EmbeddedFormat.fromV2MediaType(type) != nil { return EmbeddedFormat.v2Metadata }
            }
        }
        throw APIError.notAcceptable(request.headers[.accept])
    }

    /// The embedded format of a v2 produce body, from its Content-Type: only the five embedded types are accepted
    /// (415 otherwise, `application/json` included, as in Confluent).
    static func produceFormat(_ request: Request) throws -> EmbeddedFormat {
        guard let contentType = request.headers[.contentType],
            let format = EmbeddedFormat.fromV2MediaType(MediaType.essence(contentType))
        else { throw APIError.unsupportedMediaType(request.headers[.contentType]) }
        return format
    }

    /// Consumer-management bodies: any v2 type or `application/json`; a request without a body needs none.
    static func checkManagementBody(_ request: Request) throws {
        guard let contentType = request.headers[.contentType] else { return }
        let type = MediaType.essence(contentType).lowercased()
        if type == "application/json" || type == EmbeddedFormat.v2Metadata { return }
        if EmbeddedFormat.fromV2MediaType(Substring(type)) != nil { return }
        throw APIError.unsupportedMediaType(contentType)
    }
}
