import Foundation

/// The real `satchel-server` binary, run as a child process on a loopback port, for end-to-end
/// and crash tests. Built by `swift build --build-tests` next to the test bundle.
public final class ServerProcess: Sendable {
    public static var binary: String { builtProduct("satchel-server") }

    let process: Process
    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }

    /// Starts `satchel-server serve` on a free port and waits for its "listening" line. With
    /// `logFile` its log (stderr) goes there, at `logLevel`.
    public init(data: String, extraArguments: [String] = [], logLevel: String = "warning", logFile: String? = nil) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--data", data, "--port", "0", "--log-level", logLevel] + extraArguments
        let out = Pipe()
        process.standardOutput = out
        if let logFile {
            FileManager.default.createFile(atPath: logFile, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logFile))
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        let lines = AsyncStream<String>.makeStream()
        // A blocking read on a thread of its own, not `readabilityHandler`: tearing down that
        // handler's dispatch read source races libdispatch's epoll bookkeeping on Linux and can
        // crash the whole test process in `_dispatch_event_loop_drain` (swiftlang/swift-corelibs-
        // libdispatch#949; it did, in CI). The thread drains stdout to EOF so the server never
        // blocks on a full pipe.
        let reader = out.fileHandleForReading
        Thread.detachNewThread {
            var pending = Data()
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                pending.append(data)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    lines.continuation.yield(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                    pending.removeSubrange(pending.startIndex...newline)
                }
            }
            if !pending.isEmpty { lines.continuation.yield(String(decoding: pending, as: UTF8.self)) }
            lines.continuation.finish()
        }
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
    public func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then waits up to `limit` for the process to exit; false (and kill -9) if it
    /// did not.
    public func terminate(within limit: Duration) -> Bool {
        process.terminate()
        let deadline = ContinuousClock.now + limit
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning {
            kill9()
            return false
        }
        return true
    }

    /// SIGTERM: graceful shutdown.
    @discardableResult
    public func terminate() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs an operator command (`satchel-server space create …`) and returns its stdout.
    /// `environment` is added to this process's; `stdin` is written to the command's input.
    @discardableResult
    /// Runs an operator command to its end on a dispatch thread: waiting for a process blocks,
    /// and blocking Swift's cooperative threads (one per core) would stall every other test.
    public static func run(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(arguments, environment: environment, stdin: stdin) })
            }
        }
    }

    static func runBlocking(_ arguments: [String], environment: [String: String], stdin: String?) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe()
        process.standardOutput = out
        let input = Pipe()
        if stdin != nil { process.standardInput = input }
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try? input.fileHandleForWriting.close()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("satchel-server \(arguments.joined(separator: " ")) failed with \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

