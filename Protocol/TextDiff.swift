/// One replacement in a text: `deleteCount` Unicode scalars from `start` (counted in the base
/// text) are replaced by `insert`.
public struct TextEdit: Hashable, Sendable {
    public var start: Int
    public var deleteCount: Int
    public var insert: String

    public init(start: Int, deleteCount: Int, insert: String) {
        self.start = start
        self.deleteCount = deleteCount
        self.insert = insert
    }

    var end: Int { start + deleteCount }
}

/// An edit script turning one text into another. Positions count Unicode scalars (code points)
/// of the base; `baseLength` and `baseChecksum` (CRC-32 of the base's UTF-8) let the receiver
/// refuse a diff made against a different base instead of corrupting the text.
public struct TextDiff: Hashable, Sendable {
    public var baseLength: Int
    public var baseChecksum: UInt32
    /// Ascending, non-overlapping edits.
    public var edits: [TextEdit]

    public init(baseLength: Int, baseChecksum: UInt32, edits: [TextEdit]) {
        self.baseLength = baseLength
        self.baseChecksum = baseChecksum
        self.edits = edits
    }

    /// The diff from `base` to `new`, computed word by word (see `TextDiffer`).
    public init(from base: String, to new: String) {
        let a = Array(base.unicodeScalars)
        self.init(
            baseLength: a.count, baseChecksum: CRC32.checksum(base.utf8),
            edits: TextDiffer.edits(from: a, to: Array(new.unicodeScalars)))
    }

    /// Applies the diff to `base`; refuses a base that is not the one the diff was made against.
    public func apply(to base: String) throws(Rejection) -> String {
        let scalars = Array(base.unicodeScalars)
        guard scalars.count == baseLength, CRC32.checksum(base.utf8) == baseChecksum else {
            throw Rejection(
                .diffBaseMismatch,
                "the text diff was made against a different version of the text; send the whole text instead")
        }
        return try TextEdit.apply(edits, to: scalars)
    }

    /// About how many bytes the diff takes on the wire, to choose between a diff and the whole text.
    public var encodedSize: Int {
        edits.reduce(12) { $0 + 6 + $1.insert.utf8.count }
    }
}

extension TextEdit {
    /// Applies ascending, non-overlapping edits to `base`.
    static func apply(_ edits: [TextEdit], to base: [Unicode.Scalar]) throws(Rejection) -> String {
        var out = String.UnicodeScalarView()
        var position = 0
        for edit in edits {
            guard edit.start >= position, edit.deleteCount >= 0, edit.end <= base.count else {
                throw Rejection(.invalidDiff, "text diff edits must be ascending, non-overlapping and inside the text")
            }
            out.append(contentsOf: base[position..<edit.start])
            out.append(contentsOf: edit.insert.unicodeScalars)
            position = edit.end
        }
        out.append(contentsOf: base[position...])
        return String(out)
    }
}

/// Word-level diffing: texts are split into words, runs of spaces and single punctuation marks,
/// compared with Myers' O(ND) algorithm, and the result mapped back to scalar positions.
/// Word granularity keeps merges of prose readable (no interleaved letters).
enum TextDiffer {
    /// Beyond this many token edits the middle is sent as one replacement: bounded time and memory.
    static let maxEditDistance = 600

    static func edits(from a: [Unicode.Scalar], to b: [Unicode.Scalar]) -> [TextEdit] {
        let ta = tokens(a), tb = tokens(b)
        // Tokens are keyed by their exact scalars: String keys would merge canonically
        // equivalent spellings ("é" vs "e" + accent) and the diff would lose the difference.
        var ids: [[UInt32]: Int] = [:]
        func id(_ s: [Unicode.Scalar], _ r: Range<Int>) -> Int {
            let k = s[r].map(\.value)
            if let v = ids[k] { return v }
            let v = ids.count
            ids[k] = v
            return v
        }
        let ia = ta.map { id(a, $0) }, ib = tb.map { id(b, $0) }

        // Trim the common prefix and suffix: cheap, and usually all but a few tokens.
        var prefix = 0
        while prefix < ia.count, prefix < ib.count, ia[prefix] == ib[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < ia.count - prefix, suffix < ib.count - prefix,
            ia[ia.count - 1 - suffix] == ib[ib.count - 1 - suffix]
        { suffix += 1 }
        let ma = Array(ia[prefix..<(ia.count - suffix)]), mb = Array(ib[prefix..<(ib.count - suffix)])

        func aPos(_ i: Int) -> Int { i < ta.count ? ta[i].lowerBound : a.count }
        func bPos(_ j: Int) -> Int { j < tb.count ? tb[j].lowerBound : b.count }

        let matches = myers(ma, mb) ?? []
        var result: [TextEdit] = []
        var i = 0, j = 0
        for (mi, mj) in matches + [(ma.count, mb.count)] {
            if mi > i || mj > j {
                let start = aPos(prefix + i), end = aPos(prefix + mi)
                var insert = String.UnicodeScalarView()
                insert.append(contentsOf: b[bPos(prefix + j)..<bPos(prefix + mj)])
                result.append(TextEdit(start: start, deleteCount: end - start, insert: String(insert)))
            }
            i = mi + 1
            j = mj + 1
        }
        return result
    }

    /// Splits text into tokens: runs of letters/digits, runs of whitespace, and single other scalars.
    static func tokens(_ s: [Unicode.Scalar]) -> [Range<Int>] {
        enum Class { case word, space, other }
        func cls(_ c: Unicode.Scalar) -> Class {
            if c.properties.isWhitespace { return .space }
            if c.properties.isAlphabetic || c.properties.numericType != nil { return .word }
            return .other
        }
        var out: [Range<Int>] = []
        var i = 0
        while i < s.count {
            let c = cls(s[i])
            var j = i + 1
            if c != .other { while j < s.count, cls(s[j]) == c { j += 1 } }
            out.append(i..<j)
            i = j
        }
        return out
    }

    /// Matched index pairs of a shortest edit script, or nil if it needs more than `maxEditDistance` edits.
    static func myers(_ a: [Int], _ b: [Int]) -> [(Int, Int)]? {
        let n = a.count, m = b.count
        let maxD = min(n + m, maxEditDistance)
        let offset = maxD + 1
        var v = [Int](repeating: 0, count: 2 * maxD + 3)
        var trace: [[Int]] = []
        var found = false
        outer: for d in 0...maxD {
            trace.append(v)
            for k in stride(from: -d, through: d, by: 2) {
                var x = (k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]))
                    ? v[offset + k + 1] : v[offset + k - 1] + 1
                var y = x - k
                while x < n, y < m, a[x] == b[y] {
                    x += 1
                    y += 1
                }
                v[offset + k] = x
                if x >= n, y >= m {
                    found = true
                    break outer
                }
            }
        }
        guard found else { return nil }
        var matches: [(Int, Int)] = []
        var x = n, y = m
        for d in stride(from: trace.count - 1, through: 0, by: -1) {
            let tv = trace[d]
            let k = x - y
            let prevK = (k == -d || (k != d && tv[offset + k - 1] < tv[offset + k + 1])) ? k + 1 : k - 1
            let prevX = d == 0 ? 0 : tv[offset + prevK]
            let prevY = d == 0 ? 0 : prevX - prevK
            while x > prevX, y > prevY {
                matches.append((x - 1, y - 1))
                x -= 1
                y -= 1
            }
            x = prevX
            y = prevY
        }
        return matches.reversed()
    }
}
