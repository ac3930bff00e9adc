internal import CZlib

/// CRC-32 (the zlib / IEEE 802.3 polynomial), used for frame integrity and text-diff bases.
public enum CRC32 {
    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        if let crc = bytes.withContiguousStorageIfAvailable(update) { return crc }
        return Array(bytes).withUnsafeBufferPointer(update)
    }

    static func update(_ buffer: UnsafeBufferPointer<UInt8>) -> UInt32 {
        UInt32(truncatingIfNeeded: CZlib.crc32(0, buffer.baseAddress, UInt32(buffer.count)))
    }
}

/// zlib (RFC 1950) compression with an optional preset dictionary. All zlib calls live here.
enum Zlib {
    static func compress(_ input: [UInt8], level: Int32, dictionary: [UInt8]?) -> [UInt8] {
        var stream = z_stream()
        var status = deflateInit_(&stream, level, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(status == Z_OK, "deflateInit failed: \(status)")
        defer { deflateEnd(&stream) }
        if let dictionary {
            status = dictionary.withUnsafeBufferPointer {
                deflateSetDictionary(&stream, $0.baseAddress, UInt32($0.count))
            }
            precondition(status == Z_OK, "deflateSetDictionary failed: \(status)")
        }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))))
        let produced: Int = input.withUnsafeBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                let s = deflate(&stream, Z_FINISH)
                precondition(s == Z_STREAM_END, "deflate did not finish: \(s)")
                return outBuf.count - Int(stream.avail_out)
            }
        }
        output.removeSubrange(produced...)
        return output
    }

    enum InflateFailure: Error {
        /// The stream would produce more than the allowed number of bytes.
        case exceedsLimit
        /// The stream ends before its end marker.
        case truncated
        /// Not a valid zlib stream, or needs a dictionary we do not have.
        case corrupt
    }

    /// Inflates `input`, refusing to produce more than `limit` bytes: memory never grows past
    /// the limit however the stream was crafted.
    static func decompress(_ input: ArraySlice<UInt8>, limit: Int, dictionary: [UInt8]?) throws(InflateFailure) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw .corrupt }
        defer { inflateEnd(&stream) }
        // One byte beyond the limit tells "exactly at the limit" from "more than allowed".
        var output = [UInt8](repeating: 0, count: limit + 1)
        let result: Result<Int, InflateFailure> = input.withUnsafeBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                while true {
                    var s = inflate(&stream, Z_FINISH)
                    if s == Z_NEED_DICT {
                        guard let dictionary else { return .failure(.corrupt) }
                        let set = dictionary.withUnsafeBufferPointer {
                            inflateSetDictionary(&stream, $0.baseAddress, UInt32($0.count))
                        }
                        guard set == Z_OK else { return .failure(.corrupt) }
                        continue
                    }
                    let produced = outBuf.count - Int(stream.avail_out)
                    if produced > limit { return .failure(.exceedsLimit) }
                    if s == Z_STREAM_END {
                        return stream.avail_in == 0 ? .success(produced) : .failure(.corrupt)
                    }
                    if s == Z_BUF_ERROR && stream.avail_out == 0 { return .failure(.exceedsLimit) }
                    if s == Z_BUF_ERROR || (s == Z_OK && stream.avail_in == 0) { return .failure(.truncated) }
                    if s != Z_OK { s = Z_DATA_ERROR; return .failure(.corrupt) }
                }
            }
        }
        let produced = try result.get()
        output.removeSubrange(produced...)
        return output
    }
}
