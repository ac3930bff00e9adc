/// Answers the WebSocket handshakes Hummingbird 2.28 would leave unanswered or answer oddly,
/// from the first request head of a connection, before the HTTP decoder sees it (`HeadTimeout`
/// runs it). NIO's upgrader drops a `Sec-WebSocket-Version` other than 13 or a missing key with
/// an error and no response at all, and a request with `Upgrade: websocket` that is not a whole
/// handshake (no `Connection: Upgrade`) reaches Hummingbird's responder, which redirects it to
/// itself (307) for ever. RFC 6455 §4.2.1 and §4.4 say what to answer instead.
enum UpgradeCheck {
    /// The raw response refusing the handshake in `head` (an HTTP/1 request head, up to its blank
    /// line), or nil when it is no WebSocket handshake or a well-formed one (the upgrader and
    /// the live route then decide).
    static func refusal(forHead head: some Sequence<UInt8>) -> [UInt8]? {
        let text = String(decoding: Array(head), as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        while let first = lines.first, first.isEmpty { lines.removeFirst() }
        guard let requestLine = lines.first else { return nil }
        var fields: [String: [String]] = [:]
        for line in lines.dropFirst() {
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased(), default: []].append(line[line.index(after: colon)...].trimmedOfBlanks)
        }
        func tokens(_ name: String) -> [String] {
            (fields[name] ?? []).flatMap { $0.split(separator: ",") }.map { $0.trimmedOfBlanks.lowercased() }
        }
        guard tokens("upgrade").contains("websocket") else { return nil }
        let method = requestLine.split(separator: " ").first.map(String.init)
        let key = fields["sec-websocket-key"] ?? []
        if method != "GET" || !tokens("connection").contains("upgrade") || key.count != 1 || key[0].isEmpty {
            return response("400 Bad Request", extra: "")
        }
        // The one version there is (RFC 6455 §4.4: answer which versions the server speaks).
        if fields["sec-websocket-version"] != ["13"] {
            return response("426 Upgrade Required", extra: "Sec-WebSocket-Version: 13\r\n")
        }
        return nil
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
