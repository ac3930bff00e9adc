import Foundation

/// The snippet under a search hit: the window of words with the most query words in it, the
/// matched words marked. Built here rather than with FTS5's `snippet()`, which needs the match
/// run again for each hit: for a common word that costs as much as the search itself.
enum Snippet {
    /// The query's words as the index sees them: lowercased, without diacritics, split at
    /// punctuation ("Z-Park" is "z", "park"). Each matches words it begins (the query is by prefix).
    static func terms(of query: String) -> [String] {
        words(in: query).map { fold(query[$0]) }.filter { !$0.isEmpty }
    }

    /// Pieces of the best window of `size` words from the text with the most matches (the first
    /// text wins ties, so pass the body first), with "…" where text was cut.
    static func make(texts: [String], terms: [String], size: Int = 14) -> [(text: String, highlighted: Bool)] {
        var best: (text: String, words: [Range<String.Index>], hits: [Bool], start: Int, score: Int)?
        for text in texts where !text.isEmpty {
            let words = words(in: text)
            let hits = words.map { range in matches(text[range], terms) }
            // Slide a window of `size` words; score = matched words in it.
            var score = hits.prefix(size).filter { $0 }.count, top = (start: 0, score: score)
            if words.count > size {
                for start in 1...(words.count - size) {
                    score += (hits[start + size - 1] ? 1 : 0) - (hits[start - 1] ? 1 : 0)
                    if score > top.score { top = (start, score) }
                }
            }
            // Begin at the window's first match where the text after it still fills the window.
            if let first = hits[top.start...].firstIndex(of: true) { top.start = max(top.start, min(first, words.count - size)) }
            if best == nil || top.score > best!.score {
                best = (text, words, hits, top.start, top.score)
            }
        }
        guard let best, !best.words.isEmpty else { return [] }
        let text = best.text, words = best.words
        let end = min(words.count, best.start + size)
        var pieces: [(String, Bool)] = []
        var cursor = best.start == 0 ? text.startIndex : words[best.start].lowerBound
        if best.start > 0 { pieces.append(("…", false)) }
        for i in best.start..<end where best.hits[i] {
            if cursor < words[i].lowerBound { pieces.append((String(text[cursor..<words[i].lowerBound]), false)) }
            pieces.append((String(text[words[i]]), true))
            cursor = words[i].upperBound
        }
        let last = end == words.count ? text.endIndex : words[end - 1].upperBound
        if cursor < last { pieces.append((String(text[cursor..<last]), false)) }
        if end < words.count { pieces.append(("…", false)) }
        return pieces
    }

    /// Runs of letters and digits, as FTS5's unicode61 tokenizer splits text. ASCII is checked
    /// by value: Unicode property lookups for every character were most of a search's time.
    static func words(in text: String) -> [Range<String.Index>] {
        var out: [Range<String.Index>] = []
        var start: String.Index?
        let scalars = text.unicodeScalars
        var i = scalars.startIndex
        while i < scalars.endIndex {
            let scalar = scalars[i], v = scalar.value
            let inWord = v < 0x80
                ? (v >= 0x30 && v <= 0x39) || (v | 0x20 >= 0x61 && v | 0x20 <= 0x7A)
                : scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar.properties.generalCategory == .nonspacingMark
            if inWord, start == nil { start = i }
            if !inWord, let s = start { out.append(s..<i); start = nil }
            i = scalars.index(after: i)
        }
        if let s = start { out.append(s..<text.endIndex) }
        return out
    }

    /// Whether the word begins with one of the (folded) terms, without allocating for ASCII words.
    static func matches(_ word: Substring, _ terms: [String]) -> Bool {
        guard word.utf8.allSatisfy({ $0 < 0x80 }) else {
            let folded = fold(word)
            return terms.contains { folded.hasPrefix($0) }
        }
        return terms.contains { term in
            guard term.utf8.count <= word.utf8.count else { return false }
            return zip(word.utf8, term.utf8).allSatisfy { w, t in (w >= 0x41 && w <= 0x5A ? w | 0x20 : w) == t }
        }
    }

    /// Lowercased, diacritics removed ("Zürich" → "zurich"), cheaply for ASCII words.
    static func fold(_ word: Substring) -> String {
        if word.utf8.allSatisfy({ $0 < 0x80 }) { return word.lowercased() }
        return word.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
    }
}
