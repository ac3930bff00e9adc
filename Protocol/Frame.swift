/// Why a frame could not be decoded. The `code` is stable (PROTOCOL.md, "Errors"); the
/// message says what to do.
public struct FrameError: CodedError, Hashable {
    public struct Code: RawRepresentable, Hashable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// Shorter than its header or its declared body.
        public static let truncated = Code(rawValue: "frame_truncated")
        /// Does not start with the magic bytes "ST".
        public static let badMagic = Code(rawValue: "frame_bad_magic")
        /// A frame version or flag this peer does not know.
        public static let unsupportedVersion = Code(rawValue: "frame_unsupported_version")
        public static let unknownMessageType = Code(rawValue: "frame_unknown_message_type")
        /// The payload does not match its CRC-32.
        public static let checksumMismatch = Code(rawValue: "frame_checksum_mismatch")
        /// The declared payload size is over the limit: refused before decompressing.
        public static let tooLarge = Code(rawValue: "frame_too_large")
        /// The compressed body inflates past its declared size: a decompression bomb.
        public static let decompressionBomb = Code(rawValue: "frame_decompression_bomb")
        /// The compressed body is not a valid zlib stream.
        public static let corrupt = Code(rawValue: "frame_corrupt")
        /// The payload does not follow the message layout.
        public static let malformed = Code(rawValue: "frame_malformed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) { (self.code, self.message) = (code, message) }
}

/// The envelope every message travels in (PROTOCOL.md, "Frames"):
///
///     0  2  magic "ST"
///     2  1  frame version (1)
///     3  1  flags: bit 0 zlib-compressed, bit 1 preset dictionary 1
///     4  1  message type
///     5  4  payload length before compression (big-endian)
///     9  4  CRC-32 of the payload before compression (big-endian)
///     13 …  body: the payload, or its zlib stream
public enum Frame {
    public static let version: UInt8 = 1
    public static let headerSize = 13
    static let magic: [UInt8] = [0x53, 0x54]
    static let flagCompressed: UInt8 = 1
    static let flagDictionary: UInt8 = 2

    /// How to compress: payloads under `minimumBytes` go raw; otherwise zlib at `level` with the
    /// preset dictionary, kept only when smaller than the raw payload.
    public struct Compression: Hashable, Sendable {
        public var level: Int32
        public var minimumBytes: Int
        public var useDictionary: Bool

        public init(level: Int32 = 6, minimumBytes: Int = 64, useDictionary: Bool = true) {
            self.level = level
            self.minimumBytes = minimumBytes
            self.useDictionary = useDictionary
        }

        public static let `default` = Compression()
        public static let none = Compression(level: 0, minimumBytes: .max, useDictionary: false)
    }

    /// The message as a frame.
    public static func encode(_ message: Message, compression: Compression = .default) -> [UInt8] {
        var w = WireWriter(capacity: 1024)
        message.encodePayload(to: &w)
        return encode(payload: w.bytes, type: message.type, compression: compression)
    }

    /// A frame around an already-encoded payload.
    public static func encode(payload: [UInt8], type: UInt8, compression: Compression = .default) -> [UInt8] {
        precondition(payload.count <= UInt32.max, "payload too large for a frame")
        var flags: UInt8 = 0
        var body = payload
        if payload.count >= compression.minimumBytes {
            let dictionary = compression.useDictionary ? PresetDictionary.v1 : nil
            let deflated = Zlib.compress(payload, level: compression.level, dictionary: dictionary)
            if deflated.count < payload.count {
                body = deflated
                flags = flagCompressed | (dictionary == nil ? 0 : flagDictionary)
            }
        }
        var out = magic
        out.reserveCapacity(headerSize + body.count)
        out.append(version)
        out.append(flags)
        out.append(type)
        var w = WireWriter(capacity: 8)
        w.fixed32(UInt32(payload.count))
        w.fixed32(CRC32.checksum(payload))
        out.append(contentsOf: w.bytes)
        out.append(contentsOf: body)
        return out
    }

    /// The payload size a frame's header declares (before compression), or nil for a frame too
    /// short to have a header. For accounting only: nothing is verified.
    public static func declaredPayloadSize(_ frame: [UInt8]) -> Int? {
        guard frame.count >= headerSize else { return nil }
        return frame[5..<9].reduce(0) { $0 << 8 | Int($1) }
    }

    /// Decodes a frame, refusing anything whose payload would exceed `maxPayloadBytes`
    /// before any memory is spent on it.
    public static func decode(_ frame: [UInt8], maxPayloadBytes: Int) throws(FrameError) -> Message {
        let (type, payload) = try decodePayload(frame, maxPayloadBytes: maxPayloadBytes)
        var r = WireReader(payload)
        let message = try Message.decodePayload(type: type, from: &r)
        guard r.isAtEnd else { throw r.malformed("unexpected trailing bytes") }
        return message
    }

    /// The message type and decompressed, checksum-verified payload of a frame.
    public static func decodePayload(_ frame: [UInt8], maxPayloadBytes: Int) throws(FrameError) -> (type: UInt8, payload: [UInt8]) {
        guard frame.count >= headerSize else {
            throw FrameError(.truncated, "frame is \(frame.count) bytes, shorter than its \(headerSize)-byte header; the transfer was cut short, send it again")
        }
        guard frame[0] == magic[0], frame[1] == magic[1] else {
            throw FrameError(.badMagic, "body is not a Satchel frame (it must start with \"ST\"); send Content-Type application/x-satchel-frame bodies made by a Satchel client")
        }
        guard frame[2] == version else {
            throw FrameError(.unsupportedVersion, "frame version \(frame[2]) is not supported (this peer speaks frame version \(version)); update the client or server")
        }
        let flags = frame[3]
        guard flags & ~(flagCompressed | flagDictionary) == 0, flags != flagDictionary else {
            throw FrameError(.unsupportedVersion, "frame flags \(flags) are not supported by frame version \(version)")
        }
        let type = frame[4]
        var r = WireReader(frame, offset: 5)
        let length = Int(try r.fixed32())
        let checksum = try r.fixed32()
        guard length <= maxPayloadBytes else {
            throw FrameError(.tooLarge, "frame payload of \(length) bytes is over the limit of \(maxPayloadBytes) bytes; send fewer mutations per push")
        }
        let body = frame[headerSize...]
        let payload: [UInt8]
        if flags & flagCompressed != 0 {
            do {
                payload = try Zlib.decompress(body, limit: length, dictionary: flags & flagDictionary != 0 ? PresetDictionary.v1 : nil)
            } catch .exceedsLimit {
                throw FrameError(.decompressionBomb, "compressed body inflates past its declared \(length) bytes; refused")
            } catch .truncated {
                throw FrameError(.truncated, "compressed body ends early; the transfer was cut short, send it again")
            } catch {
                throw FrameError(.corrupt, "compressed body is not a valid zlib stream")
            }
            guard payload.count == length else {
                throw FrameError(.truncated, "compressed body inflates to \(payload.count) bytes, not the declared \(length)")
            }
        } else {
            guard body.count == length else {
                throw FrameError(
                    body.count < length ? .truncated : .malformed,
                    "frame body is \(body.count) bytes but its header declares \(length)")
            }
            payload = Array(body)
        }
        guard CRC32.checksum(payload) == checksum else {
            throw FrameError(.checksumMismatch, "frame payload does not match its checksum; it was corrupted on the way, send it again")
        }
        return (type, payload)
    }
}
