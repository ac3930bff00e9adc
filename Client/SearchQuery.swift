/// What a person typed, as search terms: each whitespace-separated word becomes its terms
/// ("Z-Park" is the phrase "z park", "hi-tech" is "high tech"), stop words are left out unless
/// nothing else is left, and the last word also matches as a prefix, for typing ahead.
struct SearchQuery: Hashable, Sendable {
    /// A word's terms (more than one for "Z-Park"), matched as a phrase.
    typealias Phrase = [String]

    /// The words searched for, as typed (stop words left out), for the fallback line.
    var words: [String]
    /// Their terms, one phrase per word, without repeats.
    var phrases: [Phrase]

    init(_ text: String) {
        var words: [String] = [], phrases: [Phrase] = []
        var dropped: [(String, Phrase)] = []
        for chunk in text.split(whereSeparator: { $0.isWhitespace }) {
            let ranges = SearchTerms.words(in: String(chunk))
            guard !ranges.isEmpty else { continue }
            let chunkText = String(chunk)
            let phrase = ranges.map { SearchTerms.term(chunkText[$0]) }
            let display = String(chunk.filter { !"\"?!.,;:()".contains($0) })
            // A stop word in capitals is kept: "IT", "US" and "WHO" are names there.
            let capitals = chunk.count > 1 && chunk.allSatisfy { $0.isUppercase || !$0.isLetter }
            if !capitals, ranges.allSatisfy({ StopWords.contains(SearchTerms.fold(chunkText[$0])) }) {
                dropped.append((display, phrase))
                continue
            }
            guard !phrases.contains(phrase) else { continue }
            words.append(display)
            phrases.append(phrase)
        }
        if phrases.isEmpty {  // "who is there": nothing but stop words; search for them after all
            for (word, phrase) in dropped where !phrases.contains(phrase) { words.append(word); phrases.append(phrase) }
        }
        self.words = words
        self.phrases = phrases
    }

    var isEmpty: Bool { phrases.isEmpty }

    /// The FTS5 query for every word (`all`) or any of them, the last word as a prefix.
    func fts(all: Bool) -> String {
        let parts = phrases.enumerated().map { i, phrase in
            "\"" + phrase.joined(separator: " ") + "\"" + (i == phrases.count - 1 ? "*" : "")
        }
        return parts.joined(separator: all ? " " : " OR ")
    }

    /// Whether the `i`th phrase is matched as a prefix.
    func isPrefix(_ i: Int) -> Bool { i == phrases.count - 1 }
}
