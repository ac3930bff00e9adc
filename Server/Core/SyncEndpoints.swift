public import SatchelProtocol

/// The sync routes' work on a request's bytes, without HTTP types: `/v1/hello`, `/v1/push` and
/// `/v1/pull` each take a frame and give one back. `HTTPAPI` serves them over Hummingbird; the
/// simulation calls them directly, so both run the same decoding, limits and error answers.
public struct SyncEndpoints: Sendable {
    public enum Route: String, Sendable { case hello, push, pull }

    public let service: SyncService
    let failures: FailureLog

    public init(service: SyncService) {
        self.service = service
        failures = FailureLog(service: service)
    }

    /// The optional protocol features every frame answer names (`Satchel-Features`, §14).
    public static let featureList = [SatchelFeature.asWritten, SatchelFeature.deviceState]
    public static let features = featureList.joined(separator: ", ")

    /// `features`: the request's `Satchel-Features` header values.
    public func hello(_ body: [UInt8], features: [String], device: DeviceInfo) async throws -> [UInt8] {
        guard case .helloRequest(var hello) = try decode(body) else { throw Self.wrongMessage("HelloRequest") }
        hello.features = Set(features.flatMap { $0.split(separator: ",") }.map { String($0).trimmingSpaces })
        return try answered(Frame.encode(.helloResponse(try await service.hello(hello, device: device))))
    }

    public func push(_ body: [UInt8], device: DeviceInfo) async throws -> [UInt8] {
        let apply: @Sendable () async throws -> [UInt8] = {
            guard case .pushRequest(let push) = try decode(body) else { throw Self.wrongMessage("PushRequest") }
            return try answered(Frame.encode(.pushResponse(try await service.push(push, device: device))))
        }
        // Bulk uploads take turns (memory); a few notes saved while online go straight on.
        let small = (Frame.declaredPayloadSize(body) ?? .max) <= PushRequest.bulkPayloadBytes
        return small ? try await apply() : try await service.pushAdmission.run(apply)
    }

    public func pull(_ body: [UInt8], device: DeviceInfo) async throws -> [UInt8] {
        guard case .pullRequest(let pull) = try decode(body) else { throw Self.wrongMessage("PullRequest") }
        return try answered(try await service.pull(pull, device: device))
    }

    /// A whole request as a transport without HTTP delivers it: authentication, the body limit,
    /// then the route. The answer's status and frame (an error frame when it failed).
    public func answer(_ route: Route, authorization: String?, features: [String] = [], body: [UInt8]) async -> (status: Int, frame: [UInt8]) {
        do {
            let device = try await service.authenticate(authorization: authorization)
            guard body.count <= service.limits.maxRequestBytes else {
                throw APIError.tooLarge("the request body", limit: service.limits.maxRequestBytes)
            }
            switch route {
            case .hello: return (200, try await hello(body, features: features, device: device))
            case .push: return (200, try await push(body, device: device))
            case .pull: return (200, try await pull(body, device: device))
            }
        } catch {
            let failure = failure(error)
            return (failure.status, failure.frame)
        }
    }

    /// A failed request's answer: the error's status and its ErrorResponse frame (logged when
    /// it is the server's own trouble).
    public func failure(_ error: any Error) -> (status: Int, frame: [UInt8], error: APIError) {
        let api = failures.answer(error)
        return (api.status, Frame.encode(.error(ErrorResponse(code: api.code, message: api.message))), api)
    }

    func decode(_ body: [UInt8]) throws -> Message {
        service.metrics.frame(direction: "in", sent: body.count, raw: Frame.declaredPayloadSize(body) ?? body.count)
        return try Frame.decode(body, maxPayloadBytes: service.limits.maxPayloadBytes)
    }

    func answered(_ frame: [UInt8]) -> [UInt8] {
        service.metrics.frame(direction: "out", sent: frame.count, raw: Frame.declaredPayloadSize(frame) ?? frame.count)
        return frame
    }

    static func wrongMessage(_ expected: String) -> APIError {
        APIError(code: "wrong_message", "this route takes a \(expected) frame")
    }
}
