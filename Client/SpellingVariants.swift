/// British and American spellings (and a few written-two-ways words) folded to one form before
/// a word is stemmed, on both sides of a search: the briefing writes "fibre", "urbanisation",
/// "centre", "programme" and "hi-tech", a delegate may type "fiber", "urbanization", "center",
/// "program" or "high-tech". Folding only has to be the same for the index and the query, so
/// a rare wrong fold ("enterprise" → "enterprize") costs nothing unless it makes two different
/// words one; the lists below keep to families where that does not happen.
enum SpellingVariants {
    /// One lowercase word in its folded spelling.
    static func fold(_ word: String) -> String {
        if let whole = words[word] { return whole }
        let n = word.utf8.count
        guard n >= 5 else { return word }
        // -our → -or ("colour", "labourers", "favourite"), for the stems where it is a variant:
        // "four", "hour", "tour", "contour" and "your" are not.
        for root in ourRoots where word.hasPrefix(root) {
            let rest = word.dropFirst(root.count)
            if rest.hasPrefix("our") { return root + "or" + rest.dropFirst(3) }
        }
        // -re → -er ("fibre", "centres", "metre"); "-red" → "-ered" ("centred").
        for root in reRoots where word.hasPrefix(root) {
            let rest = word.dropFirst(root.count)
            switch rest {
            case "re": return root + "er"
            case "res": return root + "ers"
            case "red": return root + "ered"
            default: continue
            }
        }
        // -ise → -ize and its forms ("urbanisation", "organised", "digitising"). Words shorter
        // than seven letters ("raise", "noise", "wise", "rises") keep their -ise.
        if n >= 7, !iseKept.contains(where: { word.hasPrefix($0) }) {
            for (british, american) in iseSuffixes where word.hasSuffix(british) {
                return word.dropLast(british.count) + american
            }
        }
        return word
    }

    /// Whole words written two ways; "hi" is "hi-tech"'s first half ("hi" alone is rare in
    /// a trade briefing).
    static let words: [String: String] = [
        "hi": "high", "programme": "program", "programmes": "programs", "catalogue": "catalog",
        "dialogue": "dialog", "dialogues": "dialogs", "analogue": "analog", "licence": "license", "licences": "licenses",
        "defence": "defense", "offence": "offense", "ageing": "aging", "aluminium": "aluminum",
        "sulphur": "sulfur", "tonne": "ton", "tonnes": "tons", "cheque": "check", "grey": "gray",
        "mould": "mold", "plough": "plow", "tyre": "tire", "tyres": "tires", "manoeuvre": "maneuver",
        "paediatric": "pediatric", "anaemia": "anemia", "haemophilia": "hemophilia",
    ]

    static let ourRoots = [
        "col", "lab", "behavi", "harb", "neighb", "fav", "hon", "flav", "rum", "vap", "hum",
        "sav", "endeav", "arm", "od", "vig", "val", "cand", "ferv", "rig", "splend", "tum", "ard",
    ]

    static let reRoots = [
        "cent", "fib", "met", "lit", "theat", "calib", "somb", "spect", "lust", "meag", "sab",
        "kilomet", "centimet", "millimet", "nanomet", "decilit", "millilit",
    ]

    /// Words whose -ise is not a variant of -ize.
    static let iseKept = [
        "advertis", "advis", "arise", "chastis", "circumcis", "comprise", "compromis", "concis", "demise", "despise",
        "devis", "disguis", "enterprise", "exercis", "expertis", "franchis", "improvis", "incis", "merchandis",
        "otherwise", "paradise", "precis", "premise", "promise", "revis", "supervis", "surmise", "surpris",
        "televis", "treatise", "likewise", "clockwise", "noise", "praise", "cruise", "excise",
    ]

    static let iseSuffixes: [(String, String)] = [
        ("isations", "izations"), ("isation", "ization"), ("ising", "izing"), ("ised", "ized"), ("ises", "izes"),
        ("isers", "izers"), ("iser", "izer"), ("ise", "ize"),
        // -yse → -yze ("analysed"); not "analyses", which is also the plural of "analysis".
        ("ysed", "yzed"), ("ysing", "yzing"), ("yse", "yze"),
    ]
}
