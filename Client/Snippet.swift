/// The snippet under a search hit: the sentence that holds most of the query's words (from the
/// first text that has one, so pass the summary or body first), the matched words marked. A
/// sentence longer than `maxWords` is narrowed to its best clause, then to the densest window.
/// Built here rather than with FTS5's `snippet()`, which needs the match run again for each hit
/// (for a common word that costs as much as the search) and knows words, not sentences.
enum Snippet {
    typealias Pieces = [(text: String, highlighted: Bool)]

    static func make(texts: [String], query: SearchQuery, maxWords: Int = 40) -> Pieces {
        let matcher = TermMatcher(query)
        var best: (text: String, words: [Range<String.Index>], hits: [Int?], span: Range<Int>, score: (Int, Int))?
        var fallback: (text: String, words: [Range<String.Index>], span: Range<Int>)?
        for text in texts where !text.isEmpty {
            let words = SearchTerms.words(in: text)
            guard !words.isEmpty else { continue }
            let hits = words.map { matcher.phrase(of: text[$0]) }
            let sentences = spans(text, words, clauses: false)
            if fallback == nil { fallback = (text, words, sentences[0]) }
            for sentence in sentences {
                let score = score(hits[sentence])
                if score.0 > 0, best == nil || score > best!.score { best = (text, words, hits, sentence, score) }
            }
        }
        guard let best else {
            // Nothing shown holds the words (they matched a place or a sector): the first
            // sentence still says what the record is.
            guard let fallback else { return [] }
            let none = [Int?](repeating: nil, count: fallback.words.count)
            return pieces(fallback.text, fallback.words, none, narrow(fallback.span, maxWords: maxWords), sentence: fallback.span)
        }
        var span = best.span
        if span.count > maxWords {
            let clauses = spans(best.text, best.words, clauses: true).filter { span.contains($0.lowerBound) }
            span = clauses.max { score(best.hits[$0]) < score(best.hits[$1]) || (score(best.hits[$0]) == score(best.hits[$1]) && $0.lowerBound > $1.lowerBound) } ?? span
        }
        if span.count > maxWords { span = densest(best.hits, in: span, size: maxWords) }
        return pieces(best.text, best.words, best.hits, span, sentence: best.span)
    }

    /// (different query words, matched words) in a span: the first counts most.
    static func score(_ hits: ArraySlice<Int?>) -> (Int, Int) {
        let matched = hits.compactMap { $0 }
        return (Set(matched).count, matched.count)
    }

    /// Word index ranges of the sentences (ending at ".", "!" or "?" before a space, or a line
    /// break) or, with `clauses`, also at ";" and ":" before a space.
    static func spans(_ text: String, _ words: [Range<String.Index>], clauses: Bool) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0
        for i in 0..<(words.count - 1) {
            let gap = text[words[i].upperBound..<words[i + 1].lowerBound]
            var ends = gap.contains("\n")
            if !ends, gap.last?.isWhitespace == true {
                ends = gap.contains { ".!?".contains($0) || (clauses && ";:".contains($0)) }
            }
            if ends { out.append(start..<(i + 1)); start = i + 1 }
        }
        out.append(start..<words.count)
        return out
    }

    /// The window of `size` words in `span` with the most matched words, beginning at its first match.
    static func densest(_ hits: [Int?], in span: Range<Int>, size: Int) -> Range<Int> {
        var count = hits[span.lowerBound..<(span.lowerBound + size)].filter { $0 != nil }.count
        var top = (start: span.lowerBound, count: count)
        for start in (span.lowerBound + 1)...(span.upperBound - size) {
            count += (hits[start + size - 1] != nil ? 1 : 0) - (hits[start - 1] != nil ? 1 : 0)
            if count > top.count { top = (start, count) }
        }
        var start = top.start
        if let first = hits[start..<(start + size)].firstIndex(where: { $0 != nil }) { start = min(first, span.upperBound - size) }
        return start..<(start + size)
    }

    static func narrow(_ span: Range<Int>, maxWords: Int) -> Range<Int> {
        span.lowerBound..<min(span.upperBound, span.lowerBound + maxWords)
    }

    /// The words of `span` with what lies between them, matched words marked; "…" where the
    /// span cuts its sentence, and the sentence's closing punctuation where it does not.
    static func pieces(_ text: String, _ words: [Range<String.Index>], _ hits: [Int?], _ span: Range<Int>, sentence: Range<Int>? = nil) -> Pieces {
        let sentence = sentence ?? span
        var out: Pieces = []
        var cursor = words[span.lowerBound].lowerBound
        // An opening quote or bracket belongs to the first word.
        while cursor > text.startIndex {
            let before = text.index(before: cursor)
            if text[before].isWhitespace || ".,;:!?".contains(text[before]) { break }
            cursor = before
        }
        if span.lowerBound > sentence.lowerBound { out.append(("…", false)) }
        for i in span where hits[i] != nil {
            if cursor < words[i].lowerBound { out.append((String(text[cursor..<words[i].lowerBound]), false)) }
            out.append((String(text[words[i]]), true))
            cursor = words[i].upperBound
        }
        var end = words[span.upperBound - 1].upperBound
        if span.upperBound == sentence.upperBound {
            while end < text.endIndex, !text[end].isWhitespace { end = text.index(after: end) }
        }
        if cursor < end { out.append((String(text[cursor..<end]), false)) }
        if span.upperBound < sentence.upperBound { out.append(("…", false)) }
        return out
    }
}
