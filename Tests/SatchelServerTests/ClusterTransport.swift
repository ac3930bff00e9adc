import Foundation
import SatchelClient
import SatchelProtocol
import SatchelTestSupport

/// What the devices of a cluster test were told, kept by their transports: every push answer
/// per mutation, and every failed request with why it failed.
final class ClusterLedger: Sendable {
    struct Failure: Sendable {
        var route: String
        var url: String
        var error: TransportError
    }

    let results = Locked<[MutationID: [MutationResult]]>([:])
    let failures = Locked<[Failure]>([])
    let pushes = Locked(0)
    /// Mutations of pushes whose instance died under them: sent, no answer.
    let unanswered = Locked<Set<MutationID>>([])

    /// Failures that are not the link to a dead instance: any answer of a live server that
    /// refused or failed the request (a 5xx reaches the client as `.offline` with the server's
    /// code, or `http_5xx` for a non-frame answer).
    var serverFailures: [Failure] {
        failures.withLock { $0 }.filter { !Self.isDeadLink($0.error) }
    }

    /// A refused, reset or cut connection: what a killed instance does to a request. No answer
    /// came, so the device cannot know whether its push was applied.
    static func isDeadLink(_ error: TransportError) -> Bool {
        error.kind == .offline && (error.code == nil || error.code == "transfer_damaged")
    }
}

/// The shipped `HTTPTransport`, to a random instance of the cluster for every request, as a
/// device behind a load balancer is served: a sync's hello, pushes and pulls may each reach a
/// different server, and a retry after a dead instance reaches another one.
struct ClusterTransport: SyncTransport {
    let cluster: ClusterWorld
    let token: String
    let ledger: ClusterLedger

    func transport() throws -> (HTTPTransport, String) {
        let url = cluster.randomURL()
        return (try HTTPTransport(url: url, token: token, timeout: .seconds(10)), url)
    }

    func recorded<T>(_ route: String, _ body: (HTTPTransport) async throws -> T) async throws -> T {
        let (http, url) = try transport()
        do {
            return try await body(http)
        } catch let error as TransportError {
            ledger.failures.withLock { $0.append(.init(route: route, url: url, error: error)) }
            throw error
        }
    }

    func record(_ response: PushResponse) -> PushResponse {
        ledger.pushes.withLock { $0 += 1 }
        ledger.results.withLock { results in
            for r in response.results { results[r.mutation, default: []].append(r) }
        }
        return response
    }

    func hello(_ request: HelloRequest) async throws -> HelloResponse {
        try await recorded("hello") { try await $0.hello(request) }
    }

    func push(_ request: PushRequest) async throws -> PushResponse {
        do {
            return record(try await recorded("push") { try await $0.push(request) })
        } catch let error as TransportError where ClusterLedger.isDeadLink(error) {
            ledger.unanswered.withLock { $0.formUnion(request.mutations.map(\.id)) }
            throw error
        }
    }

    func push(_ encoded: EncodedPush) async throws -> PushResponse {
        do {
            return record(try await recorded("push") { try await $0.push(encoded) })
        } catch let error as TransportError where ClusterLedger.isDeadLink(error) {
            if let request = try? encoded.request() { ledger.unanswered.withLock { $0.formUnion(request.mutations.map(\.id)) } }
            throw error
        }
    }

    func pull(_ request: PullRequest) async throws -> PullResponse {
        try await recorded("pull") { try await $0.pull(request) }
    }

    func live() async throws -> AsyncThrowingStream<LiveEvent, any Error> {
        try await recorded("live") { try await $0.live() }
    }
}
