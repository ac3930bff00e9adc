import Foundation

/// How text becomes search terms, the same way for the index, the query and the snippets:
/// runs of letters and digits, lowercased, diacritics removed, spelling variants folded, then
/// stemmed ("Urbanisation" → "urbanization" → "urban"; "cities" → "citi").
enum SearchTerms {
    /// The term one word stands for.
    static func term(_ word: Substring) -> String {
        PorterStemmer.stem(SpellingVariants.fold(fold(word)))
    }

    /// The text as its terms separated by spaces: what the full-text index stores and matches.
    static func indexed(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for range in words(in: text) {
            if !out.isEmpty { out.append(" ") }
            out.append(term(text[range]))
        }
        return out
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

    /// Lowercased, diacritics removed ("Zürich" → "zurich"), cheaply for ASCII words.
    static func fold(_ word: Substring) -> String {
        if word.utf8.allSatisfy({ $0 < 0x80 }) { return word.lowercased() }
        return word.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
    }
}
