import Crypto
import SatchelProtocol

/// Device tokens and enrollment codes. Both are random, shown once, and stored only as SHA-256
/// hashes, so a copy of the database does not let anyone sync.
public enum Credentials {
    /// A new device token: "sat_" and 256 random bits in base64url.
    public static func newToken(using rng: inout some RandomNumberGenerator) -> String {
        var bytes = [UInt8]()
        for _ in 0..<4 { withUnsafeBytes(of: rng.next()) { bytes.append(contentsOf: $0) } }
        return "sat_" + base64url(bytes)
    }

    /// A new operator token: "sop_" and 256 random bits in base64url (for the admin API only).
    public static func newOperatorToken(using rng: inout some RandomNumberGenerator) -> String {
        "sop_" + newToken(using: &rng).dropFirst(4)
    }

    /// A new enrollment code: 60 random bits as 12 Crockford base-32 characters in groups of
    /// four ("K7QM-4TZP-XW2H"), easy to read out over a phone line.
    public static func newEnrollmentCode(using rng: inout some RandomNumberGenerator) -> String {
        let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
        var value = rng.next()
        var chars: [Character] = []
        for i in 0..<12 {
            if i > 0 && i % 4 == 0 { chars.append("-") }
            chars.append(alphabet[Int(value & 31)])
            value >>= 5
        }
        return String(chars)
    }

    /// The hash stored for a token.
    public static func hash(token: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(token.utf8)))
    }

    /// The hash stored for an enrollment code; case, spaces and dashes do not matter, and the
    /// letters Crockford base 32 leaves out are read as the digits they look like.
    public static func hash(code: String) -> [UInt8] {
        let normalized = code.uppercased().compactMap { c -> Character? in
            switch c {
            case "-", " ": nil
            case "O": "0"
            case "I", "L": "1"
            default: c
            }
        }
        return Array(SHA256.hash(data: Array(String(normalized).utf8)))
    }

    /// Compares two hashes in time independent of where they differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var out = ""
        var i = 0
        while i + 2 < bytes.count {
            let n = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[(n >> shift) & 63]) }
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = Int(bytes[i]) << 16
            for shift in [18, 12] { out.append(alphabet[(n >> shift) & 63]) }
        } else if rest == 2 {
            let n = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8
            for shift in [18, 12, 6] { out.append(alphabet[(n >> shift) & 63]) }
        }
        return out
    }
}
