/// Which of a query's words a word of text stands for, the way the index decides it (same
/// terms; the last word also as a prefix), for marking snippets and choosing facts.
struct TermMatcher {
    let terms: [(term: String, prefix: Bool, phrase: Int)]
    /// First bytes of the terms. A stem begins with its word's first letter (Porter changes only
    /// endings, the spelling folds keep first letters), so most words are ruled out without
    /// being stemmed: stemming every word of every hit's text would cost more than the search.
    let firstBytes: Set<UInt8>

    init(_ query: SearchQuery) {
        var terms: [(String, Bool, Int)] = []
        for (i, phrase) in query.phrases.enumerated() {
            for (j, term) in phrase.enumerated() { terms.append((term, query.isPrefix(i) && j == phrase.count - 1, i)) }
        }
        self.terms = terms
        firstBytes = Set(terms.compactMap { $0.0.utf8.first })
    }

    /// The index of the query word this word matches, or nil.
    func phrase(of word: Substring) -> Int? {
        guard let first = word.utf8.first else { return nil }
        if first < 0x80 {
            let lower = first >= 0x41 && first <= 0x5A ? first | 0x20 : first
            guard firstBytes.contains(lower) else { return nil }
        }
        let term = SearchTerms.term(word)
        return terms.first { $0.term == term || ($0.prefix && term.hasPrefix($0.term)) }?.phrase
    }

    /// How many different query words the text holds.
    func distinctMatches(in text: String) -> Int {
        Set(SearchTerms.words(in: text).compactMap { phrase(of: text[$0]) }).count
    }
}
