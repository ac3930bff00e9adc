import Foundation
import Testing
@testable import SatchelProtocol

@Suite struct CodecTests {
    static let vectorsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocol/Vectors")

    static var regenerate: Bool { ProcessInfo.processInfo.environment["SATCHEL_WRITE_VECTORS"] != nil }

    @Test(arguments: GoldenVectors.messages.map(\.name))
    func goldenVectorDecodesAndReencodesByteForByte(name: String) throws {
        let vector = GoldenVectors.messages.first { $0.name == name }!
        let url = Self.vectorsDirectory.appendingPathComponent("\(name).frame")
        let encoded = Frame.encode(vector.message, compression: vector.compression)
        if Self.regenerate { try Data(encoded).write(to: url) }
        let file = [UInt8](try Data(contentsOf: url))
        #expect(try Frame.decode(file, maxPayloadBytes: 1 << 20) == vector.message)
        if vector.compression == .none {
            #expect(file == encoded, "\(name): encoding differs from the golden vector")
        } else {
            // zlib builds may choose other (equally valid) compressed bytes: compare what they carry.
            let (type, payload) = try Frame.decodePayload(file, maxPayloadBytes: 1 << 20)
            let (type2, payload2) = try Frame.decodePayload(encoded, maxPayloadBytes: 1 << 20)
            #expect(type == type2 && payload == payload2)
            #expect(file[3] == 3, "compressed vector must use the preset dictionary")
        }
    }

    /// Every message type, live event and optional tail has a vector, every vector file is one
    /// of them, and the vectors' README describes each file.
    @Test func vectorsCoverEveryMessageForm() throws {
        var forms = Set<String>()
        for (_, message, _) in GoldenVectors.messages {
            switch message {
            case .helloRequest: forms.insert("hello-request")
            case .helloResponse(let m): forms.insert(m.deviceState == nil ? "hello-response" : "hello-response+device-state")
            case .pushRequest(let m): forms.insert(m.reportAsWritten ? "push-request+flags" : "push-request")
            case .pushResponse(let m): forms.insert(m.reportsAsWritten ? "push-response+as-written" : "push-response")
            case .pullRequest(let m): forms.insert("pull-request" + (m.bootstrap == nil ? "" : "+bootstrap") + (m.omitOwnAsWritten ? "+flags" : ""))
            case .pullResponse: forms.insert("pull-response")
            case .live(.advanced): forms.insert("live-advanced")
            case .live(.heartbeat): forms.insert("live-heartbeat")
            case .live(.revoked): forms.insert("live-revoked")
            case .error: forms.insert("error")
            }
        }
        let expected: Set<String> = [
            "hello-request", "hello-response", "hello-response+device-state", "push-request", "push-request+flags",
            "push-response", "push-response+as-written", "pull-request", "pull-request+bootstrap", "pull-request+flags",
            "pull-response", "live-advanced", "live-heartbeat", "live-revoked", "error",
        ]
        #expect(forms.isSuperset(of: expected), "no vector for \(expected.subtracting(forms).sorted())")
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.vectorsDirectory.path).filter { $0.hasSuffix(".frame") }
        #expect(Set(files) == Set(GoldenVectors.messages.map { "\($0.name).frame" }))
        let readme = try String(contentsOf: Self.vectorsDirectory.appendingPathComponent("README.md"), encoding: .utf8)
        for (name, _, _) in GoldenVectors.messages {
            #expect(readme.contains("`\(name).frame`"), "Vectors/README.md does not describe \(name).frame")
        }
    }

    @Test func presetDictionaryMatchesItsVectorFile() throws {
        let url = Self.vectorsDirectory.appendingPathComponent("dictionary-v1.bin")
        if Self.regenerate { try Data(PresetDictionary.v1).write(to: url) }
        #expect([UInt8](try Data(contentsOf: url)) == PresetDictionary.v1)
    }

    @Test(arguments: [Frame.Compression.none, .default, Frame.Compression(level: 1, minimumBytes: 0, useDictionary: false)])
    func everyMessageRoundTrips(compression: Frame.Compression) throws {
        for (_, message, _) in GoldenVectors.messages {
            #expect(try Frame.decode(Frame.encode(message, compression: compression), maxPayloadBytes: 1 << 20) == message)
        }
    }

    @Test func smallEditCostsAFewHundredBytes() {
        let frame = Frame.encode(.pushRequest(PushRequest(mutations: [GoldenVectors.patch])))
        #expect(frame.count < 300, "a one-field edit took \(frame.count) bytes")
    }

    // MARK: bad frames, each with its documented error

    static let good = Frame.encode(.pullResponse(GoldenVectors.pullResponse), compression: .none)
    static let goodCompressed = Frame.encode(.pullResponse(GoldenVectors.pullResponse))

    static func expectError(_ code: FrameError.Code, _ frame: [UInt8], max: Int = 1 << 20) {
        #expect {
            try Frame.decode(frame, maxPayloadBytes: max)
        } throws: { error in
            (error as? FrameError)?.code == code
        }
    }

    @Test func truncatedFramesAreRefused() {
        Self.expectError(.truncated, Array(Self.good.prefix(5)))
        Self.expectError(.truncated, Array(Self.good.dropLast(7)))
        Self.expectError(.truncated, Array(Self.goodCompressed.dropLast(9)))
        // Every possible cut of a frame fails cleanly (never crashes, never decodes).
        for cut in 0..<Self.goodCompressed.count {
            #expect(throws: FrameError.self) { try Frame.decode(Array(Self.goodCompressed.prefix(cut)), maxPayloadBytes: 1 << 20) }
        }
    }

    @Test func wrongMagicVersionFlagsAndTypeAreRefused() {
        var f = Self.good
        f[0] = 0x7B  // "{": someone sent JSON
        Self.expectError(.badMagic, f)
        f = Self.good
        f[2] = 2
        Self.expectError(.unsupportedVersion, f)
        f = Self.good
        f[3] = 0x80
        Self.expectError(.unsupportedVersion, f)
        f = Self.good
        f[4] = 99
        Self.expectError(.unknownMessageType, f)
    }

    @Test func corruptedPayloadFailsItsChecksum() {
        var f = Self.good
        f[Frame.headerSize + 20] ^= 0x01
        Self.expectError(.checksumMismatch, f)
    }

    @Test func corruptedCompressedBodyIsRefused() {
        var f = Self.goodCompressed
        for i in (Frame.headerSize + 2)..<(Frame.headerSize + 12) { f[i] ^= 0x5A }
        #expect {
            try Frame.decode(f, maxPayloadBytes: 1 << 20)
        } throws: { error in
            let code = (error as? FrameError)?.code
            return code == .corrupt || code == .checksumMismatch || code == .truncated
        }
    }

    @Test func oversizedPayloadIsRefusedBeforeDecompressing() {
        Self.expectError(.tooLarge, Self.goodCompressed, max: 100)
        Self.expectError(.tooLarge, Self.good, max: 100)
    }

    @Test func decompressionBombIsRefusedAtItsDeclaredSize() {
        // 64 MiB of zeros compress to about 64 KiB; the header claims 1,000 bytes.
        let zeros = [UInt8](repeating: 0, count: 64 << 20)
        var bomb = Frame.encode(payload: zeros, type: 6, compression: Frame.Compression(level: 9, minimumBytes: 0, useDictionary: false))
        #expect(bomb.count < 100_000)
        bomb.replaceSubrange(5..<9, with: [0, 0, 0x03, 0xE8])
        Self.expectError(.decompressionBomb, bomb)
        // Declaring the true size does not help: it is over the limit.
        let honest = Frame.encode(payload: zeros, type: 6, compression: Frame.Compression(level: 9, minimumBytes: 0, useDictionary: false))
        Self.expectError(.tooLarge, honest, max: 16 << 20)
    }

    @Test func pullRequestsCarryTheirBootstrapHorizonAndOldOnesStillDecode() throws {
        for bootstrap in [nil, 0, 7] as [Version?] {
            let request = PullRequest(space: "s", after: 3, limit: 5, bootstrap: bootstrap)
            #expect(try PullRequest(wireBytes: request.wireBytes) == request)
        }
        // A request from a client that predates the field: incremental.
        let old = PullRequest(space: "s", after: 3, limit: 5).wireBytes
        #expect(try PullRequest(wireBytes: old).bootstrap == nil)
        #expect(try PullRequest(wireBytes: old + [8]).bootstrap == 7)
    }

    /// One message, one encoding (§1): an optional trailing field is left out when it is 0, and
    /// a decoder refuses it sent as 0, except `bootstrap` 0 holding the place of the flags after it.
    @Test func optionalTrailingFieldsRefuseAnExplicitZero() throws {
        let pull = PullRequest(space: "s", after: 3, limit: 5).wireBytes
        #expect(throws: FrameError.self) { try PullRequest(wireBytes: pull + [0]) }
        #expect(throws: FrameError.self) { try PullRequest(wireBytes: pull + [0, 0]) }
        #expect(throws: FrameError.self) { try PullRequest(wireBytes: pull + [8, 0]) }
        #expect(try PullRequest(wireBytes: pull + [0, 1]) == PullRequest(space: "s", after: 3, limit: 5, omitOwnAsWritten: true))
        var writer = Writer("dev-1")
        let push = PushRequest(mutations: [writer.create(["title": .string("t")])]).wireBytes
        #expect(throws: FrameError.self) { try PushRequest(wireBytes: push + [0]) }
        // The as-written bitmap: bits past the last result are 0.
        let results = (0..<3).map { MutationResult(mutation: MutationID(unchecked: "m\($0)"), status: .applied, version: Version($0 + 1), asWritten: true) }
        let plain = PushResponse(results: results, clock: HLC(millis: 5, counter: 0)).wireBytes
        #expect(try PushResponse(wireBytes: plain + [1, 0b0000_0111]).results.allSatisfy(\.asWritten))
        #expect(throws: FrameError.self) { try PushResponse(wireBytes: plain + [1, 0b0000_1111]) }
        // Decodable without the request: an empty bitmap of no results still says "asked".
        let none = PushResponse(results: [], clock: HLC(millis: 5, counter: 0), reportsAsWritten: true)
        #expect(try PushResponse(wireBytes: none.wireBytes) == none)
    }

    @Test func asWrittenFlagsTravelOnlyWhenAskedForAndOldMessagesStillDecode() throws {
        for omit in [false, true] {
            for bootstrap in [nil, 4] as [Version?] {
                let request = PullRequest(space: "s", after: 3, limit: 5, bootstrap: bootstrap, omitOwnAsWritten: omit)
                #expect(try PullRequest(wireBytes: request.wireBytes) == request)
            }
        }
        #expect(PullRequest(space: "s", after: 3, limit: 5).wireBytes.count + 2 == PullRequest(space: "s", after: 3, limit: 5, omitOwnAsWritten: true).wireBytes.count)
        var writer = Writer("dev-1")
        let m = writer.create(["title": .string("t")])
        let push = PushRequest(mutations: [m], reportAsWritten: true)
        #expect(try PushRequest(wireBytes: push.wireBytes) == push)
        #expect(try PushRequest(wireBytes: PushRequest(mutations: [m]).wireBytes).reportAsWritten == false)
        #expect(push.wireBytes.count == PushRequest(mutations: [m]).wireBytes.count + 1)
        // One bit per result, lowest first; 10 results take two bytes.
        let results = (0..<10).map { MutationResult(mutation: MutationID(unchecked: "m\($0)"), status: .applied, version: Version($0 + 1), asWritten: $0 % 3 == 0) }
        let response = PushResponse(results: results, clock: HLC(millis: 5, counter: 0), reportsAsWritten: true)
        let decoded = try PushResponse(wireBytes: response.wireBytes)
        #expect(decoded == response)
        #expect(decoded.results.map(\.asWritten) == [true, false, false, true, false, false, true, false, false, true])
        // Not asked for: nothing is sent and the flags read as false.
        let plain = PushResponse(results: results, clock: HLC(millis: 5, counter: 0))
        #expect(plain.wireBytes.count + 3 == response.wireBytes.count)
        #expect(try PushResponse(wireBytes: plain.wireBytes).results.allSatisfy { !$0.asWritten })
        #expect(throws: FrameError.self) { try PushResponse(wireBytes: plain.wireBytes + [1, 0xFF]) }
    }

    @Test func malformedPayloadsAreRefused() {
        func frame(_ payload: [UInt8], type: UInt8 = 5) -> [UInt8] { Frame.encode(payload: payload, type: type, compression: .none) }
        // Trailing bytes after a valid pull request.
        Self.expectError(.malformed, frame(PullRequest(space: "s", after: 1, limit: 5, bootstrap: 3, omitOwnAsWritten: true).wireBytes + [0]))
        // Flags this version does not know.
        Self.expectError(.malformed, frame(PullRequest(space: "s", after: 1, limit: 5, bootstrap: 3).wireBytes + [2]))
        // A string that is not UTF-8.
        Self.expectError(.malformed, frame([2, 0xC3, 0x28, 1, 5]))
        // An id with characters ids may not have.
        Self.expectError(.malformed, frame([3, 0x61, 0x2F, 0x62, 1, 5]))
        // A varint longer than 10 bytes.
        Self.expectError(.malformed, frame([1, 0x73] + [UInt8](repeating: 0xFF, count: 11) + [1]))
        // A count far beyond the bytes present (would allocate gigabytes if trusted).
        Self.expectError(.malformed, frame([0xFF, 0xFF, 0xFF, 0xFF, 0x07], type: 3))
        // A set that is not sorted.
        var w = WireWriter()
        w.byte(7); w.varint(2); w.string("b"); w.string("a")
        #expect(throws: FrameError.self) { try Value(wireBytes: w.bytes) }
        // A non-finite number.
        #expect(throws: FrameError.self) { try Value(wireBytes: Value.number(.nan).wireBytes) }
    }

    @Test func fieldMapsMustBeSortedSoEncodingsAreUnique() throws {
        var w = WireWriter()
        w.varint(2)
        Name("title").encode(to: &w); FieldChange.set(.null).encode(to: &w)
        Name("body").encode(to: &w); FieldChange.set(.null).encode(to: &w)
        var r = WireReader(w.bytes)
        #expect(throws: FrameError.self) { try r.fieldMap(FieldChange.self) }
    }
}
