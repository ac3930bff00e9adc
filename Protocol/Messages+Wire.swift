extension Limits: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.varint(maxRequestBytes)
        w.varint(maxPayloadBytes)
        w.varint(maxMutationsPerPush)
        w.varint(maxPageSize)
        w.varint(UInt64(maxClockSkewMillis))
    }
    public init(from r: inout WireReader) throws(FrameError) {
        self.init(
            maxRequestBytes: try r.int(), maxPayloadBytes: try r.int(), maxMutationsPerPush: try r.int(),
            maxPageSize: try r.int(), maxClockSkewMillis: Int64(try r.int()))
    }
}

extension SpaceAccess: WireCodable {
    public func encode(to w: inout WireWriter) {
        space.encode(to: &w)
        w.byte(role.wireByte)
        w.varint(UInt64(head))
        w.varint(UInt64(horizon))
    }
    public init(from r: inout WireReader) throws(FrameError) {
        self.init(
            space: try SpaceID(from: &r), role: try r.enumByte(Role.self, "role"),
            head: try r.version(), horizon: try r.version())
    }
}

extension WireReader {
    /// An optional trailing varint, which is sent only when it is not 0: an explicit 0 would be
    /// a second encoding of the same message (§1).
    mutating func trailingNonZero(_ what: String) throws(FrameError) -> UInt64 {
        let v = try varint()
        guard v != 0 else { throw malformed("\(what) 0 must be left out, not sent") }
        return v
    }
    mutating func version() throws(FrameError) -> Version {
        let v = try varint()
        guard v <= UInt64(Int64.max) else { throw malformed("version out of range") }
        return Int64(v)
    }
    mutating func protocolVersion() throws(FrameError) -> UInt16 {
        let v = try varint()
        guard v <= UInt64(UInt16.max) else { throw malformed("protocol version out of range") }
        return UInt16(v)
    }
}

extension HelloRequest: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.varint(UInt64(protocolVersion))
        w.string(client)
    }
    public init(from r: inout WireReader) throws(FrameError) {
        self.init(protocolVersion: try r.protocolVersion(), client: try r.string())
    }
}

extension HelloResponse: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.varint(UInt64(protocolVersion))
        w.string(server)
        device.encode(to: &w)
        user.encode(to: &w)
        limits.encode(to: &w)
        w.signed(serverTime)
        w.array(spaces) { w, s in s.encode(to: &w) }
        // An optional tail, sent only to clients that ask (`device-state`): older clients refuse
        // trailing bytes.
        if let deviceState {
            w.varint(deviceState.counter)
            deviceState.clock.encode(to: &w)
            deviceState.mutation.encode(to: &w)
        }
    }
    public init(from r: inout WireReader) throws(FrameError) {
        self.init(
            protocolVersion: try r.protocolVersion(), server: try r.string(), device: try DeviceID(from: &r),
            user: try UserID(from: &r), limits: try Limits(from: &r), serverTime: try r.signed(),
            spaces: try r.array(minItemBytes: 4) { (r: inout WireReader) throws(FrameError) in try SpaceAccess(from: &r) })
        if !r.isAtEnd { deviceState = DeviceWriteState(counter: try r.varint(), clock: try HLC(from: &r), mutation: try MutationID(from: &r)) }
    }
}

extension PushRequest: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.array(mutations) { w, m in m.encode(to: &w) }
        // Optional tails, so that messages from clients that predate them still decode.
        if reportAsWritten { w.varint(1) }
    }
    public init(from r: inout WireReader) throws(FrameError) {
        let mutations = try r.array(minItemBytes: 20) { (r: inout WireReader) throws(FrameError) in try Mutation(from: &r) }
        let flags = r.isAtEnd ? 0 : try r.trailingNonZero("push request flags")
        guard flags <= 1 else { throw r.malformed("unknown push request flags \(flags)") }
        self.init(mutations: mutations, reportAsWritten: flags == 1)
    }
}

extension PushResponse: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.array(results) { w, m in m.encode(to: &w) }
        clock.encode(to: &w)
        // Only for requests that asked: one bit per result, lowest bit first.
        if reportsAsWritten {
            var bits = [UInt8](repeating: 0, count: (results.count + 7) / 8)
            for (i, result) in results.enumerated() where result.asWritten { bits[i / 8] |= 1 << UInt8(i % 8) }
            w.varint(bits.count)
            w.append(bits)
        }
    }
    public init(from r: inout WireReader) throws(FrameError) {
        var results = try r.array(minItemBytes: 5) { (r: inout WireReader) throws(FrameError) in try MutationResult(from: &r) }
        let clock = try HLC(from: &r)
        var reports = false
        // Present exactly when bytes follow the clock: no need to know the request.
        if !r.isAtEnd {
            guard try r.int() == (results.count + 7) / 8 else { throw r.malformed("as-written flags do not match the results") }
            var byte: UInt8 = 0
            for i in results.indices {
                if i % 8 == 0 { byte = try r.byte() }
                results[i].asWritten = byte & (1 << UInt8(i % 8)) != 0
            }
            // The last byte's bits past the last result are 0: one encoding per message (§1).
            if results.count % 8 != 0, byte >> UInt8(results.count % 8) != 0 {
                throw r.malformed("as-written flags set for results that do not exist")
            }
            reports = true
        }
        self.init(results: results, clock: clock, reportsAsWritten: reports)
    }
}

extension PullRequest: WireCodable {
    public func encode(to w: inout WireWriter) {
        space.encode(to: &w)
        w.varint(UInt64(after))
        w.varint(limit)
        // Added in the same protocol version as optional tails: absent means an incremental
        // pull of everything, so requests from clients that predate them still decode.
        if bootstrap != nil || omitOwnAsWritten { w.varint(bootstrap.map { UInt64($0) + 1 } ?? 0) }
        if omitOwnAsWritten { w.varint(1) }
    }
    public init(from r: inout WireReader) throws(FrameError) {
        let space = try SpaceID(from: &r), after = try r.version(), limit = try r.int()
        var bootstrap: Version?
        if !r.isAtEnd {
            // 0 only to make room for the flags after it: a message ends with a field that is set.
            let raw = try r.varint()
            if raw == 0 && r.isAtEnd { throw r.malformed("a pull request ends with bootstrap 0; leave it out") }
            guard raw <= UInt64(Int64.max) else { throw r.malformed("bootstrap horizon out of range") }
            bootstrap = raw == 0 ? nil : Version(raw - 1)
        }
        let flags = r.isAtEnd ? 0 : try r.trailingNonZero("pull request flags")
        guard flags <= 1 else { throw r.malformed("unknown pull request flags \(flags)") }
        self.init(space: space, after: after, limit: limit, bootstrap: bootstrap, omitOwnAsWritten: flags == 1)
    }
}

extension PullResponse: WireCodable {
    public func encode(to w: inout WireWriter) {
        space.encode(to: &w)
        w.array(changes) { w, c in c.encode(to: &w) }
        w.varint(UInt64(cursor))
        w.bool(hasMore)
        w.varint(UInt64(head))
    }
    public init(from r: inout WireReader) throws(FrameError) {
        self.init(
            space: try SpaceID(from: &r),
            changes: try r.array(minItemBytes: 16) { (r: inout WireReader) throws(FrameError) in try Change(from: &r) },
            cursor: try r.version(), hasMore: try r.bool(), head: try r.version())
    }
}

extension LiveEvent: WireCodable {
    public func encode(to w: inout WireWriter) {
        switch self {
        case .advanced(let space, let head):
            w.byte(0)
            space.encode(to: &w)
            w.varint(UInt64(head))
        case .heartbeat(let time):
            w.byte(1)
            w.signed(time)
        case .revoked(let message):
            w.byte(2)
            w.string(message)
        }
    }
    public init(from r: inout WireReader) throws(FrameError) {
        switch try r.byte() {
        case 0: self = .advanced(space: try SpaceID(from: &r), head: try r.version())
        case 1: self = .heartbeat(serverTime: try r.signed())
        case 2: self = .revoked(message: try r.string())
        case let b: throw r.malformed("unknown live event \(b)")
        }
    }
}

extension ErrorResponse: WireCodable {
    public func encode(to w: inout WireWriter) {
        w.string(code)
        w.string(message)
    }
    public init(from r: inout WireReader) throws(FrameError) {
        self.init(code: try r.string(), message: try r.string())
    }
}

extension Message {
    func encodePayload(to w: inout WireWriter) {
        switch self {
        case .helloRequest(let m): m.encode(to: &w)
        case .helloResponse(let m): m.encode(to: &w)
        case .pushRequest(let m): m.encode(to: &w)
        case .pushResponse(let m): m.encode(to: &w)
        case .pullRequest(let m): m.encode(to: &w)
        case .pullResponse(let m): m.encode(to: &w)
        case .live(let m): m.encode(to: &w)
        case .error(let m): m.encode(to: &w)
        }
    }

    static func decodePayload(type: UInt8, from r: inout WireReader) throws(FrameError) -> Message {
        switch type {
        case 1: return .helloRequest(try HelloRequest(from: &r))
        case 2: return .helloResponse(try HelloResponse(from: &r))
        case 3: return .pushRequest(try PushRequest(from: &r))
        case 4: return .pushResponse(try PushResponse(from: &r))
        case 5: return .pullRequest(try PullRequest(from: &r))
        case 6: return .pullResponse(try PullResponse(from: &r))
        case 7: return .live(try LiveEvent(from: &r))
        case 8: return .error(try ErrorResponse(from: &r))
        default: throw FrameError(.unknownMessageType, "unknown message type \(type); this peer speaks protocol version \(satchelProtocolVersion)")
        }
    }
}

extension PullResponse {
    /// The payload of a PullResponse whose changes are already encoded (servers keep changes in
    /// their wire form and send them without decoding).
    public static func encodePayload(space: SpaceID, encodedChanges: [[UInt8]], cursor: Version, hasMore: Bool, head: Version) -> [UInt8] {
        var w = WireWriter(capacity: encodedChanges.reduce(64) { $0 + $1.count })
        space.encode(to: &w)
        w.varint(encodedChanges.count)
        for c in encodedChanges { w.append(c) }
        w.varint(UInt64(cursor))
        w.bool(hasMore)
        w.varint(UInt64(head))
        return w.bytes
    }
}
