import Testing
@testable import SatchelClient

/// How words become search terms: the stemmer, the spelling variants, stop words and phrases.
@Suite struct SearchTermsTests {
    @Test(arguments: [
        ("cities", "citi"), ("city", "citi"), ("optical", "optic"), ("optics", "optic"), ("clusters", "cluster"),
        ("caresses", "caress"), ("ponies", "poni"), ("relational", "relat"), ("conditional", "condit"),
        ("hopping", "hop"), ("falling", "fall"), ("hoping", "hope"), ("generalizations", "gener"), ("electricity", "electr"),
        ("manufacturing", "manufactur"), ("manufacturers", "manufactur"), ("sky", "sky"), ("is", "is"), ("zürich", "zürich"),
    ])
    func porterStemsAsTheReferenceDoes(word: String, stem: String) {
        #expect(PorterStemmer.stem(word) == stem)
    }

    @Test(arguments: [
        ("fibre", "fiber"), ("centres", "centers"), ("centred", "centered"), ("urbanisation", "urbanization"),
        ("organised", "organized"), ("colour", "color"), ("labourers", "laborers"), ("favourable", "favorable"),
        ("programme", "program"), ("analysed", "analyzed"), ("hi", "high"),
        // Not variants: kept as they are.
        ("four", "four"), ("hour", "hour"), ("tour", "tour"), ("enterprise", "enterprise"), ("rise", "rise"), ("promised", "promised"),
    ])
    func spellingVariantsFoldToOneForm(word: String, folded: String) {
        #expect(SpellingVariants.fold(word) == folded)
    }

    @Test func variantsAndFormsMeetInTheSameTerm() {
        func same(_ a: String, _ b: String) -> Bool { SearchTerms.indexed(a) == SearchTerms.indexed(b) }
        #expect(same("hi-tech", "high-tech"))
        #expect(same("Optical Fibre", "optical fiber"))
        #expect(same("urbanisation", "Urbanization"))
        #expect(same("smart cities", "Smart City"))
        #expect(same("colours", "color"))
        #expect(same("Zürich", "zurich"))
        #expect(!same("four", "for"))
    }

    @Test func aQuestionKeepsItsContentWords() {
        let q = SearchQuery("Which cluster in Wuhan does optical fibre?")
        #expect(q.words == ["cluster", "Wuhan", "optical", "fibre"])
        #expect(q.phrases == [["cluster"], ["wuhan"], ["optic"], ["fiber"]])
        #expect(q.fts(all: true) == "\"cluster\" \"wuhan\" \"optic\" \"fiber\"*")
        #expect(q.fts(all: false) == "\"cluster\" OR \"wuhan\" OR \"optic\" OR \"fiber\"*")
        // Punctuation inside a word makes a phrase; capitals keep a stop word that is a name.
        #expect(SearchQuery("Z-Park IT companies").phrases == [["z", "park"], ["it"], ["compani"]])
        #expect(SearchQuery("what is it").phrases == [["what"], ["is"], ["it"]])  // nothing but stop words: all kept
        #expect(SearchQuery("city cities").phrases == [["citi"]])  // repeats once
        #expect(SearchQuery("?!").isEmpty)
    }

    @Test func theFallbackLineSaysWhatWasSearched() {
        var r = SearchResults(hits: [], words: ["cluster", "Wuhan", "fibre"], bestMatches: false, everyWord: 0)
        #expect(r.fallbackLine == nil)
        r.bestMatches = true
        #expect(r.fallbackLine == "no note has every word; showing best matches for 'cluster Wuhan fibre'")
        r.everyWord = 2
        #expect(r.fallbackLine == "only 2 notes have every word; then best matches for 'cluster Wuhan fibre'")
    }

    @Test func aSnippetIsTheSentenceThatMatches() {
        let summary = "Established in 1988 when the State Council approved the first batch. Initially launched as the 'Optics Valley of China', the largest optical fibre and cable manufacturing base in China. Its strengths are photoelectric information."
        let pieces = Snippet.make(texts: [summary, "Wuhan East Lake High-tech Zone"], query: SearchQuery("largest fiber optic cable base"))
        #expect(pieces.map { $0.highlighted ? "[\($0.text)]" : $0.text }.joined()
            == "Initially launched as the '[Optics] Valley of China', the [largest] [optical] [fibre] and [cable] manufacturing [base] in China.")
        // A long sentence is narrowed to its clause, marked as cut.
        let long = "The zone hosts " + Array(repeating: "many firms", count: 30).joined(separator: " ") + "; its smart city pilot opened in 2017, and " + Array(repeating: "more words", count: 30).joined(separator: " ") + "."
        let cut = Snippet.make(texts: [long], query: SearchQuery("smart city pilot")).map(\.text).joined()
        #expect(cut.hasPrefix("…smart city pilot opened in 2017"))
        // Nothing matching in the texts: the first sentence says what the record is.
        #expect(Snippet.make(texts: ["A park. In Beijing."], query: SearchQuery("zhongguancun")).map(\.text).joined() == "A park.")
        #expect(Snippet.make(texts: ["", ""], query: SearchQuery("x")).isEmpty)
    }
}
