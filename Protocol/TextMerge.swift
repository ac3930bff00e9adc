/// Three-way text merge: both sides' edits against their common base are applied together when
/// no two of them touch the same stretch of the base.
public enum TextMerge {
    /// The merged text, or nil when an edit of `ours` and one of `theirs` overlap (a conflict).
    /// Two edits overlap when their replaced ranges intersect, or when they start at the same
    /// place and one of them only inserts (their order would be a guess). Identical edits made on
    /// both sides count once.
    public static func merge(base: String, ours: String, theirs: String) -> String? {
        // Byte comparisons: canonically equivalent spellings are different text to a replica.
        if ours.utf8.elementsEqual(theirs.utf8) { return ours }
        if ours.utf8.elementsEqual(base.utf8) { return theirs }
        if theirs.utf8.elementsEqual(base.utf8) { return ours }
        let b = Array(base.unicodeScalars)
        let eo = TextDiffer.edits(from: b, to: Array(ours.unicodeScalars))
        let et = TextDiffer.edits(from: b, to: Array(theirs.unicodeScalars))
        var combined: [TextEdit] = []
        var i = 0, j = 0
        while i < eo.count || j < et.count {
            if i < eo.count, j < et.count {
                let o = eo[i], t = et[j]
                if o == t {
                    combined.append(o)
                    i += 1
                    j += 1
                    continue
                }
                if overlaps(o, t) { return nil }
                if o.start < t.start {
                    combined.append(o)
                    i += 1
                } else {
                    combined.append(t)
                    j += 1
                }
            } else if i < eo.count {
                combined.append(eo[i])
                i += 1
            } else {
                combined.append(et[j])
                j += 1
            }
        }
        return try? TextEdit.apply(combined, to: b)
    }

    static func overlaps(_ x: TextEdit, _ y: TextEdit) -> Bool {
        // Same start: either both replace the same first scalar, or one inserts where the other
        // begins and the order of the two would be a guess.
        if x.start == y.start { return true }
        return x.start < y.end && y.start < x.end
    }
}
