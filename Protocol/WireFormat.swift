/// Appends values in the Satchel binary encoding (PROTOCOL.md, "Encoding"): unsigned LEB128
/// varints, zigzag for signed integers, length-prefixed UTF-8 strings, big-endian fixed fields.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func byte(_ b: UInt8) { bytes.append(b) }

    /// Appends bytes that are already encoded.
    public mutating func append(_ encoded: [UInt8]) { bytes.append(contentsOf: encoded) }

    public mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    public mutating func varint(_ value: Int) { varint(UInt64(value)) }

    public mutating func signed(_ value: Int64) {
        varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    public mutating func fixed64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    public mutating func fixed32(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            varint(utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func bool(_ b: Bool) { bytes.append(b ? 1 : 0) }

    public mutating func optional<T>(_ value: T?, _ write: (inout WireWriter, T) -> Void) {
        if let value {
            bytes.append(1)
            write(&self, value)
        } else {
            bytes.append(0)
        }
    }

    public mutating func array<T>(_ values: [T], _ write: (inout WireWriter, T) -> Void) {
        varint(values.count)
        for v in values { write(&self, v) }
    }
}

/// Reads the Satchel binary encoding with bounds checks on every step: a malformed or hostile
/// payload ends in a `FrameError`, never a crash or an allocation larger than the input.
public struct WireReader: Sendable {
    let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var isAtEnd: Bool { offset == bytes.count }
    var remaining: Int { bytes.count - offset }

    func malformed(_ what: String) -> FrameError {
        FrameError(.malformed, "malformed message: \(what) at byte \(offset)")
    }

    public mutating func byte() throws(FrameError) -> UInt8 {
        guard offset < bytes.count else { throw malformed("unexpected end") }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func varint() throws(FrameError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            if shift == 63 && b > 1 { throw malformed("varint overflows 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 {
                // Refuse padded encodings (trailing 0x80 0x00): one value, one encoding.
                if b == 0 && shift > 0 { throw malformed("varint is not minimally encoded") }
                return result
            }
            shift += 7
            if shift > 63 { throw malformed("varint longer than 10 bytes") }
        }
    }

    public mutating func int() throws(FrameError) -> Int {
        let v = try varint()
        guard v <= UInt64(Int32.max) else { throw malformed("count \(v) too large") }
        return Int(v)
    }

    /// A count of items each at least `minItemBytes` long: refused when the input cannot hold them.
    public mutating func count(minItemBytes: Int = 1) throws(FrameError) -> Int {
        let n = try int()
        guard n * max(1, minItemBytes) <= remaining else { throw malformed("count \(n) exceeds the remaining \(remaining) bytes") }
        return n
    }

    public mutating func signed() throws(FrameError) -> Int64 {
        let v = try varint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    public mutating func fixed64() throws(FrameError) -> UInt64 {
        guard remaining >= 8 else { throw malformed("unexpected end") }
        var v: UInt64 = 0
        for i in 0..<8 { v = v << 8 | UInt64(bytes[offset + i]) }
        offset += 8
        return v
    }

    public mutating func fixed32() throws(FrameError) -> UInt32 {
        guard remaining >= 4 else { throw malformed("unexpected end") }
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[offset + i]) }
        offset += 4
        return v
    }

    public mutating func string() throws(FrameError) -> String {
        let n = try count()
        let slice = bytes[offset..<(offset + n)]
        guard let s = String(validating: slice, as: UTF8.self) else { throw malformed("string is not valid UTF-8") }
        offset += n
        return s
    }

    public mutating func bool() throws(FrameError) -> Bool {
        switch try byte() {
        case 0: return false
        case 1: return true
        default: throw malformed("boolean must be 0 or 1")
        }
    }

    public mutating func optional<T>(_ read: (inout WireReader) throws(FrameError) -> T) throws(FrameError) -> T? {
        switch try byte() {
        case 0: return nil
        case 1: return try read(&self)
        default: throw malformed("optional marker must be 0 or 1")
        }
    }

    public mutating func array<T>(minItemBytes: Int = 1, _ read: (inout WireReader) throws(FrameError) -> T) throws(FrameError) -> [T] {
        let n = try count(minItemBytes: minItemBytes)
        var out: [T] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try read(&self)) }
        return out
    }

    /// Wraps a model validation failure (bad id, bad name) as a malformed-message error.
    mutating func validated<T>(_ make: () throws(Rejection) -> T) throws(FrameError) -> T {
        do { return try make() } catch { throw FrameError(.malformed, "malformed message at byte \(offset): \(error.message)") }
    }
}

/// A value with a Satchel binary encoding.
public protocol WireCodable: Sendable {
    func encode(to writer: inout WireWriter)
    init(from reader: inout WireReader) throws(FrameError)
}

extension WireCodable {
    /// The value's encoding on its own.
    public var wireBytes: [UInt8] {
        var w = WireWriter()
        encode(to: &w)
        return w.bytes
    }

    /// Decodes a value that must take all of `bytes`.
    public init(wireBytes bytes: [UInt8]) throws(FrameError) {
        var r = WireReader(bytes)
        self = try Self(from: &r)
        guard r.isAtEnd else { throw r.malformed("\(r.remaining) unexpected trailing bytes") }
    }
}
