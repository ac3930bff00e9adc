/// Martin Porter's English stemmer (1980), as his reference C implementation has it (with its
/// two documented departures: "-bli" → "-ble" and "-logi" → "-log"), so "cities" and "city"
/// are both "citi" and "optical", "optics" are "optic".
///
/// Our own rather than FTS5's `porter` tokenizer because the snippets and the exact-name rule
/// must stem words the same way the index does, and spelling variants must be folded before a
/// word is stemmed ("urbanisation" → "urbanization" → "urban"); FTS5 offers neither hook without a
/// C tokenizer. Works on lowercase ASCII letters; anything else is returned unchanged.
enum PorterStemmer {
    static func stem(_ word: String) -> String {
        var bytes = Array(word.utf8)
        guard bytes.count > 2, bytes.allSatisfy({ $0 >= 0x61 && $0 <= 0x7A }) else { return word }
        var s = State(b: bytes, k: bytes.count - 1)
        s.step1ab(); s.step1c(); s.step2(); s.step3(); s.step4(); s.step5()
        bytes = Array(s.b[0...s.k])
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The reference implementation's globals: the word in `b`, its end at `k`, and `j`, the end
    /// of the stem before the suffix that `ends` last matched.
    struct State {
        var b: [UInt8]
        var k: Int
        var j = 0

        func cons(_ i: Int) -> Bool {
            switch b[i] {
            case 0x61, 0x65, 0x69, 0x6F, 0x75: return false  // a e i o u
            case 0x79: return i == 0 ? true : !cons(i - 1)  // y
            default: return true
            }
        }

        /// The number of vowel-consonant sequences in b[0...j].
        func m() -> Int {
            var n = 0, i = 0
            while true { if i > j { return n }; if !cons(i) { break }; i += 1 }
            i += 1
            while true {
                while true { if i > j { return n }; if cons(i) { break }; i += 1 }
                i += 1
                n += 1
                while true { if i > j { return n }; if !cons(i) { break }; i += 1 }
                i += 1
            }
        }

        func vowelInStem() -> Bool { (0...max(0, j)).contains { $0 <= j && !cons($0) } }

        func doubleConsonant(_ j: Int) -> Bool { j >= 1 && b[j] == b[j - 1] && cons(j) }

        /// Consonant-vowel-consonant ending at i, the last not w, x or y ("hop", not "snow").
        func cvc(_ i: Int) -> Bool {
            guard i >= 2, cons(i), !cons(i - 1), cons(i - 2) else { return false }
            return b[i] != 0x77 && b[i] != 0x78 && b[i] != 0x79
        }

        mutating func ends(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard n <= k + 1 else { return false }
            let start = k - n + 1
            for i in 0..<n where b[start + i] != s.utf8Start[i] { return false }
            j = k - n
            return true
        }

        mutating func setTo(_ s: StaticString) {
            let n = s.utf8CodeUnitCount
            let bytes = (0..<n).map { s.utf8Start[$0] }
            b.replaceSubrange((j + 1)..<min(b.count, k + 1), with: bytes)
            k = j + n
        }

        mutating func r(_ s: StaticString) { if m() > 0 { setTo(s) } }

        mutating func step1ab() {
            if b[k] == 0x73 {  // s
                if ends("sses") { k -= 2 } else if ends("ies") { setTo("i") } else if k >= 1, b[k - 1] != 0x73 { k -= 1 }
            }
            if ends("eed") {
                if m() > 0 { k -= 1 }
            } else if (ends("ed") || ends("ing")) && vowelInStem() {
                k = j
                if ends("at") { setTo("ate") } else if ends("bl") { setTo("ble") } else if ends("iz") { setTo("ize") }
                else if doubleConsonant(k) {
                    k -= 1
                    if b[k] == 0x6C || b[k] == 0x73 || b[k] == 0x7A { k += 1 }  // l s z stay double
                } else if m() == 1 && cvc(k) {
                    j = k
                    setTo("e")
                }
            }
        }

        mutating func step1c() {
            if ends("y") && vowelInStem() { b[k] = 0x69 }
        }

        mutating func step2() {
            guard k >= 1 else { return }
            switch b[k - 1] {
            case 0x61: if ends("ational") { r("ate") } else if ends("tional") { r("tion") }
            case 0x63: if ends("enci") { r("ence") } else if ends("anci") { r("ance") }
            case 0x65: if ends("izer") { r("ize") }
            case 0x6C:
                if ends("bli") { r("ble") } else if ends("alli") { r("al") } else if ends("entli") { r("ent") }
                else if ends("eli") { r("e") } else if ends("ousli") { r("ous") }
            case 0x6F: if ends("ization") { r("ize") } else if ends("ation") { r("ate") } else if ends("ator") { r("ate") }
            case 0x73:
                if ends("alism") { r("al") } else if ends("iveness") { r("ive") } else if ends("fulness") { r("ful") }
                else if ends("ousness") { r("ous") }
            case 0x74: if ends("aliti") { r("al") } else if ends("iviti") { r("ive") } else if ends("biliti") { r("ble") }
            case 0x67: if ends("logi") { r("log") }
            default: break
            }
        }

        mutating func step3() {
            switch b[k] {
            case 0x65: if ends("icate") { r("ic") } else if ends("ative") { r("") } else if ends("alize") { r("al") }
            case 0x69: if ends("iciti") { r("ic") }
            case 0x6C: if ends("ical") { r("ic") } else if ends("ful") { r("") }
            case 0x73: if ends("ness") { r("") }
            default: break
            }
        }

        mutating func step4() {
            guard k >= 1 else { return }
            let found: Bool
            switch b[k - 1] {
            case 0x61: found = ends("al")
            case 0x63: found = ends("ance") || ends("ence")
            case 0x65: found = ends("er")
            case 0x69: found = ends("ic")
            case 0x6C: found = ends("able") || ends("ible")
            case 0x6E: found = ends("ant") || ends("ement") || ends("ment") || ends("ent")
            case 0x6F: found = (ends("ion") && j >= 0 && (b[j] == 0x73 || b[j] == 0x74)) || ends("ou")
            case 0x73: found = ends("ism")
            case 0x74: found = ends("ate") || ends("iti")
            case 0x75: found = ends("ous")
            case 0x76: found = ends("ive")
            case 0x7A: found = ends("ize")
            default: found = false
            }
            if found && m() > 1 { k = j }
        }

        mutating func step5() {
            j = k
            if b[k] == 0x65 {
                let a = m()
                if a > 1 || (a == 1 && !cvc(k - 1)) { k -= 1 }
            }
            if b[k] == 0x6C && doubleConsonant(k) && m() > 1 { k -= 1 }
        }
    }
}
