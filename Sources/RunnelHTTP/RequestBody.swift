public import Hummingbird
public import NIOCore
public import RunnelJSON

extension Request {
    /// The whole body, refused with 413 in the API's format when it is larger than `limit`.
    public func collectBody(limit: Int) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, 413, "Request body is larger than the limit of \(limit) bytes.")
        } catch let error as CancellationError {
            throw error
        } catch {
            // The HTTP decoder's own complaints (bad chunk sizes and the like): the client sent a broken body.
            throw Self.unreadableBody(error)
        }
    }

    /// A body the HTTP layer could not decode, as the client's error.
    public static func unreadableBody(_ error: any Error) -> APIError {
        APIError(.badRequest, 400, "The request body could not be read: \(error)")
    }

    /// The body parsed as JSON; nil when it is empty.
    public func jsonBody(limit: Int) async throws -> JSONValue? {
        let buffer = try await collectBody(limit: limit)
        if buffer.readableBytesView.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return nil
        }
        do {
            return try JSONValue.parse(buffer)
        } catch {
            throw APIError.malformedJSON(error)
        }
    }
}

extension Response {
    /// A JSON response.
    public static func json(
        _ value: JSONValue,
        status: HTTPResponse.Status = .ok,
        contentType: String = MediaType.json,
        headers extra: HTTPFields = [:]
    ) -> Response {
        var headers = extra
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: value.bytes))
    }

    public static func json(
        bytes: ByteBuffer,
        status: HTTPResponse.Status = .ok,
        contentType: String = MediaType.json
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: bytes))
    }

    public static func noContent() -> Response { Response(status: .noContent) }
}
