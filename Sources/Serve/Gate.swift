// In front of every endpoint: the token check (all but /health), and the
// request counters and latency of /metrics. Latency is labelled by endpoint,
// and any path that is not one is counted as "other" (unbounded labels would
// let a client grow the metrics without end).

import Foundation
import Hummingbird

struct Gate<Context: RequestContext>: RouterMiddleware {
    let service: RewardService

    static var endpoints: Set<String> {
        ["/get_reward", "/run_code", "/v1/ping", "/score", "/rules", "/health", "/metrics"]
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = Date()
        let path = request.uri.path
        let endpoint = Gate.endpoints.contains(path) ? path : "other"
        func done(_ status: Int) {
            service.metrics.request(endpoint: endpoint, status: status, seconds: Date().timeIntervalSince(start))
        }
        if path != "/health", let token = service.token {
            let presented = BearerToken.presented(
                authorization: request.headers[.authorization],
                query: request.uri.queryParameters["token"].map(String.init))
            guard let presented, token.matches(presented) else {
                service.metrics.error("unauthorized")
                done(401)
                var r = RewardServer.failure(
                    .unauthorized,
                    presented == nil
                        ? "this server needs a token: send \"Authorization: Bearer TOKEN\" (or ?token=TOKEN)"
                        : "the token is wrong")
                r.headers[.wwwAuthenticate] = "Bearer"
                return r
            }
        }
        do {
            let response = try await next(request, context)
            done(Int(response.status.code))
            return response
        } catch let e as HTTPResponseError {
            done(Int(e.status.code))
            throw e
        } catch {
            done(500)
            throw error
        }
    }
}
