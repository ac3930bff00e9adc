import AsyncHTTPClient
import Foundation
import NIOCore
import SatchelProtocol
import Synchronization

/// The real `satchel-server` binary, run as a child process on a loopback port, for end-to-end
/// and crash tests. Built by `swift build --build-tests` next to the test bundle.
final class ServerProcess: Sendable {
    static var binary: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidate = dir.appendingPathComponent("satchel-server").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        // Fallback: the package's debug build folder.
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/satchel-server").path
    }

    let process: Process
    let port: Int
    var url: String { "http://127.0.0.1:\(port)" }

    /// Starts `satchel-server serve` on a free port and waits for its "listening" line.
    init(data: String, extraArguments: [String] = []) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--data", data, "--port", "0", "--log-level", "warning"] + extraArguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        let lines = AsyncStream<String>.makeStream()
        out.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                lines.continuation.finish()
            } else {
                for line in String(decoding: data, as: UTF8.self).split(separator: "\n") { lines.continuation.yield(String(line)) }
            }
        }
        try process.run()
        self.process = process
        var found: Int?
        for await line in lines.stream {
            if let r = line.range(of: "http://127.0.0.1:") {
                found = Int(line[r.upperBound...].prefix { $0.isNumber })
                break
            }
        }
        guard let found else { throw TestFailure("satchel-server exited before listening") }
        port = found
    }

    /// kill -9: no chance to flush or close anything.
    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM: graceful shutdown.
    func terminate() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs an operator command (`satchel-server space create …`) and returns its stdout.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("satchel-server \(arguments.joined(separator: " ")) failed with \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// Makes an enrollment code for `user` through the real CLI.
    static func enrollmentCode(data: String, user: String) throws -> String {
        let json = try run(["enroll", "--data", data, "--user", user, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return object["code"] as! String
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

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
