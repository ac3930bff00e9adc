import AsyncHTTPClient
import Foundation
import NIOCore
import SatchelProtocol
import SatchelTestSupport

/// A device talking to a real server over loopback HTTP with AsyncHTTPClient.
struct HTTPDevice: Sendable {
    var url: String
    var id: DeviceID
    var token: String

    static func enroll(url: String, code: String, label: String) async throws -> HTTPDevice {
        var request = HTTPClientRequest(url: url + "/v1/enroll")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"code": "\#(code)", "label": "\#(label)"}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok, let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw TestFailure("enroll failed: \(response.status) \(String(buffer: body))")
        }
        return HTTPDevice(url: url, id: DeviceID(unchecked: json["device"] as! String), token: json["token"] as! String)
    }

    func send(_ path: String, _ message: Message, timeout: TimeAmount = .seconds(10)) async throws -> (status: Int, message: Message) {
        var request = HTTPClientRequest(url: url + path)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/x-satchel-frame")
        request.body = .bytes(ByteBuffer(bytes: Frame.encode(message)))
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 64 << 20)
        return (Int(response.status.code), try Frame.decode(Array(body.readableBytesView), maxPayloadBytes: 64 << 20))
    }

    func push(_ mutations: [Mutation], timeout: TimeAmount = .seconds(10)) async throws -> [MutationResult] {
        let (status, message) = try await send("/v1/push", .pushRequest(PushRequest(mutations: mutations)), timeout: timeout)
        guard status == 200, case .pushResponse(let r) = message else { throw TestFailure("push failed: \(status) \(message)") }
        return r.results
    }

    /// Every change of `space` after `after`, following pages.
    func pullAll(_ space: SpaceID, after: Version = 0, limit: Int = 500) async throws -> [Change] {
        var cursor = after
        var all: [Change] = []
        while true {
            let (status, message) = try await send("/v1/pull", .pullRequest(PullRequest(space: space, after: cursor, limit: limit)))
            guard status == 200, case .pullResponse(let page) = message else { throw TestFailure("pull failed: \(status) \(message)") }
            all += page.changes
            cursor = page.cursor
            if !page.hasMore { return all }
        }
    }
}
