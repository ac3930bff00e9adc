import SatchelProtocol

/// The facts shown under a hit, so that the answer is often there without `satchel show`:
/// a briefing entry's kind, place, years, website and the figures that hold most of the query's words
/// (the first figure when none does); a note's author and tags.
enum KeyFacts {
    /// At most this many figures, each cut to `figureLength` characters.
    static let figures = 2
    static let figureLength = 160

    static func of(_ collection: CollectionName, _ view: [FieldName: Value], query: SearchQuery, snippet: String = "") -> [String] {
        let text = { (name: FieldName) in SearchIndex.text(view, name) }
        guard collection == .entries else {
            var facts: [String] = []
            if !text("author").isEmpty { facts.append("by " + text("author")) }
            let tags = SearchIndex.set(view, "tags")
            if !tags.isEmpty { facts.append(tags.map { "#" + $0 }.joined(separator: " ")) }
            return facts
        }
        var facts = [text("kind")].filter { !$0.isEmpty }
        let city = text("city"), province = text("province"), cities = SearchIndex.set(view, "cities")
        if !city.isEmpty {
            facts.append(province.isEmpty || province == city ? city : "\(city), \(province)")
        } else if !province.isEmpty {
            facts.append(province)
        } else if !cities.isEmpty {
            facts.append(cities.prefix(4).joined(separator: ", ") + (cities.count > 4 ? " and \(cities.count - 4) more" : ""))
        }
        if !text("years").isEmpty { facts.append(text("years")) }
        if !text("website").isEmpty { facts.append(text("website")) }
        let all = SearchIndex.set(view, "figures").filter { !snippet.contains($0) }
        let matcher = TermMatcher(query)
        let scored = all.enumerated().map { (i: $0.offset, figure: $0.element, score: matcher.distinctMatches(in: $0.element)) }
        let chosen = scored.filter { $0.score > 0 }.sorted { ($0.score, -$0.i) > ($1.score, -$1.i) }.prefix(figures).map(\.figure)
        for figure in chosen.isEmpty ? Array(all.prefix(1)) : chosen {
            facts.append(figure.count > figureLength ? String(figure.prefix(figureLength - 1)) + "…" : figure)
        }
        return facts
    }
}
