/// Words a question is made of that say nothing about what is wanted ("which", "does", "in",
/// "with"): dropped from a query so that "which cluster in Wuhan does optical fibre" asks for
/// cluster, Wuhan, optical and fibre. The index keeps them, so a phrase such as "Ministry of
/// Science" still matches as written.
enum StopWords {
    /// Whether a folded (lowercase, unstemmed) word is a stop word.
    static func contains(_ word: String) -> Bool { words.contains(word) }

    static let words: Set<String> = [
        "a", "about", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "been", "being",
        "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "done", "during",
        "each", "find", "for", "from", "give", "had", "has", "have", "having", "he", "her", "here", "his",
        "how", "i", "if", "in", "into", "is", "it", "its", "just", "list", "me", "might", "must", "my",
        "of", "on", "or", "our", "please", "s", "shall", "she", "should", "show", "so", "some", "such",
        "tell", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
        "to", "us", "was", "we", "were", "what", "whats", "when", "where", "which", "who", "whom", "whose",
        "why", "will", "with", "would", "you", "your",
    ]
}
