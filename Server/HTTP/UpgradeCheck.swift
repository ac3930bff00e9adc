/// Answers the upgrade requests Hummingbird 2.28 would leave unanswered or answer oddly, from
/// the first request head of a connection, before the HTTP decoder sees it (`HeadTimeout` runs
/// it). NIO's typed upgrader, as Hummingbird sets it up, loses the head of any request with an
/// `Upgrade` header that it does not upgrade: a `Sec-WebSocket-Version` other than 13, a missing
/// key, `Upgrade: h2c` (curl's `--http2`) all got no response at all. And `Upgrade: websocket`
/// without `Connection: Upgrade` reached Hummingbird's responder, which redirects it to itself
/// (307) for ever. RFC 6455 §4.2.1 and §4.4 say what to answer a broken handshake; any other
/// protocol in `Upgrade` is ignored (RFC 9110 §7.8) by taking the header out.
enum UpgradeCheck {
    enum Verdict: Equatable {
        /// No `Upgrade` header, or a whole WebSocket handshake: the upgrader and the live route decide.
        case pass
        /// Answer this (a whole HTTP response) and close.
        case refuse([UInt8])
        /// Serve the request as if it had no `Upgrade` header.
        case ignoreUpgrade
    }

    /// The raw response refusing the handshake in `head` (an HTTP/1 request head, up to its blank
    /// line), or nil when it is no WebSocket handshake or a well-formed one (the upgrader and
    /// the live route then decide).
    static func refusal(forHead head: some Sequence<UInt8>) -> [UInt8]? {
        if case .refuse(let response) = verdict(forHead: head) { return response }
        return nil
    }

    static func verdict(forHead head: some Sequence<UInt8>) -> Verdict {
        let text = String(decoding: Array(head), as: UTF8.self)
        // "\r\n" is one Character in Swift: split on it and on a bare "\n" (as lenient parsers do).
        var lines = text.split(omittingEmptySubsequences: false) { $0 == "\r\n" || $0 == "\n" }
        while let first = lines.first, first.isEmpty { lines.removeFirst() }
        guard let requestLine = lines.first else { return .pass }
        var fields: [String: [String]] = [:]
        for line in lines.dropFirst() {
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased(), default: []].append(line[line.index(after: colon)...].trimmedOfBlanks)
        }
        func tokens(_ name: String) -> [String] {
            (fields[name] ?? []).flatMap { $0.split(separator: ",") }.map { $0.trimmedOfBlanks.lowercased() }
        }
        guard fields["upgrade"] != nil else { return .pass }
        guard tokens("upgrade").contains("websocket") else { return .ignoreUpgrade }
        let method = requestLine.split(separator: " ").first.map(String.init)
        let key = fields["sec-websocket-key"] ?? []
        if method != "GET" || !tokens("connection").contains("upgrade") || key.count != 1 || key[0].isEmpty {
            return .refuse(response("400 Bad Request", extra: ""))
        }
        // The one version there is (RFC 6455 §4.4: answer which versions the server speaks).
        if fields["sec-websocket-version"] != ["13"] {
            return .refuse(response("426 Upgrade Required", extra: "Sec-WebSocket-Version: 13\r\n"))
        }
        return .pass
    }

    /// `bytes` (a request head and whatever followed it) without the head's `Upgrade` lines,
    /// every other byte as it was.
    static func removingUpgrade(from bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var start = 0, seenRequestLine = false
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? bytes.count
            let line = bytes[start..<end]
            let content = line.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
            if content.isEmpty && seenRequestLine {
                // The blank line ending the head: the rest is the body, untouched.
                out += bytes[start...]
                return out
            }
            if !content.isEmpty { seenRequestLine = true }
            let name = content.prefix { $0 != UInt8(ascii: ":") }
            if !(seenRequestLine && content.contains(UInt8(ascii: ":")) && String(decoding: name, as: UTF8.self).lowercased() == "upgrade") {
                out += line
            }
            start = end
        }
        return out
    }

    static func response(_ status: String, extra: String) -> [UInt8] {
        Array("HTTP/1.1 \(status)\r\n\(extra)Connection: close\r\nContent-Length: 0\r\n\r\n".utf8)
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    fileprivate var trimmedOfBlanks: String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        return String(drop(while: blank).reversed().drop(while: blank).reversed())
    }
}
