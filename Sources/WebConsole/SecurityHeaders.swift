import HTTPTypes
import Hummingbird

/// Headers on every console response, errors included: no script runs and no other site may frame a page, pages are
/// never cached (they show live state and a form token), and links leak no filter to other sites.
struct SecurityHeaders<Context: RequestContext>: RouterMiddleware {

    static var policy: String {
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
            + "base-uri 'none'"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] = Self.policy
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.cacheControl] = "no-store"
        return response
    }
}

extension HTTPField.Name {
    /// Three headers HTTPTypes has no name for.
    fileprivate static let xFrameOptions = Self("X-Frame-Options")!
    fileprivate static let referrerPolicy = Self("Referrer-Policy")!
    static let serverTiming = Self("Server-Timing")!
}
