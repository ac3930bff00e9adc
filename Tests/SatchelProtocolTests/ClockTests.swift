import Testing
@testable import SatchelProtocol
import SatchelTesting

@Suite struct ClockTests {
    @Test func readingsNeverGoBackwardsEvenWhenPhysicalTimeDoes() {
        var clock = HybridLogicalClock()
        let a = clock.now(physicalMillis: 10_000)
        let b = clock.now(physicalMillis: 9_000)  // NTP stepped the clock back
        let c = clock.now(physicalMillis: 10_000)
        let d = clock.now(physicalMillis: 10_001)
        #expect(a < b && b < c && c < d)
        #expect(b.millis == 10_000 && b.counter == 1)
        #expect(d == HLC(millis: 10_001, counter: 0))
    }

    @Test func observingARemoteReadingMovesPastIt() throws {
        var clock = HybridLogicalClock()
        _ = clock.now(physicalMillis: 1_000)
        let remote = HLC(millis: 5_000, counter: 7)
        let after = try clock.observe(remote, physicalMillis: 2_000)
        #expect(after > remote)
        #expect(clock.now(physicalMillis: 2_000) > after)
    }

    @Test func remoteClockTooFarAheadIsRefusedWithoutChangingTheClock() {
        var clock = HybridLogicalClock(maxSkewMillis: 60_000)
        let before = clock.now(physicalMillis: 1_000_000)
        #expect {
            try clock.observe(HLC(millis: 1_000_000 + 3 * 3_600_000, counter: 0), physicalMillis: 1_000_000)
        } throws: { error in
            let e = error as! Rejection
            return e.code == .clockTooFarAhead && e.message.contains("3 h ahead")
        }
        #expect(clock.last == before)
        // Within the allowed skew it is accepted.
        #expect(throws: Never.self) { try clock.observe(HLC(millis: 1_050_000, counter: 0), physicalMillis: 1_000_000) }
    }

    @Test func counterOverflowBorrowsTheNextMillisecond() {
        var clock = HybridLogicalClock(last: HLC(millis: 500, counter: .max))
        #expect(clock.now(physicalMillis: 500) == HLC(millis: 501, counter: 0))
    }

    @Test func stampsOrderByClockThenDevice() {
        let early = Stamp(clock: HLC(millis: 1, counter: 0), device: "zz")
        let late = Stamp(clock: HLC(millis: 2, counter: 0), device: "aa")
        #expect(early < late)
        #expect(Stamp(clock: late.clock, device: "aa") < Stamp(clock: late.clock, device: "ab"))
    }

    @Test func randomIdsAreValidAndDistinct() {
        var rng = SplitMix64(seed: 42)
        let ids = (0..<1000).map { _ in RecordID.random(using: &rng) }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { $0.rawValue.count == 26 && RecordID.isValid($0.rawValue) })
        // Through variables: `SpaceID("literal")` would be a literal, checked by a precondition.
        for bad in ["has space", String(repeating: "a", count: 65), "", "a/b"] {
            #expect(throws: Rejection.self) { try SpaceID(bad) }
        }
        for bad in ["9lives", "", "has-dash", String(repeating: "a", count: 41)] {
            #expect(throws: Rejection.self) { try Name(bad) }
        }
    }
}

@Suite struct TextDiffTests {
    static let pairs: [(String, String)] = [
        ("", ""), ("", "new text"), ("old text", ""), ("same", "same"),
        ("The park office showed the incubator.", "The park office proudly showed the new incubator!"),
        ("héllo wörld 🌍 日本語テキスト", "héllo brave wörld 🌍🚀 日本語のテキスト"),
        ("line one\nline two\nline three", "line one\nline 2\nline three\nline four"),
        (String(repeating: "word ", count: 3000), String(repeating: "mot ", count: 3000)),
    ]

    @Test(arguments: pairs.indices)
    func diffAppliedToItsBaseGivesTheNewText(i: Int) throws {
        let (a, b) = Self.pairs[i]
        let diff = TextDiff(from: a, to: b)
        #expect(try diff.apply(to: a) == b)
        #expect(try TextDiff(wireBytes: diff.wireBytes) == diff)
    }

    @Test func smallEditOfALongTextTravelsAsASmallDiff() {
        let body = String(repeating: "Met the cluster managers in Suzhou Industrial Park. ", count: 40)
        let edited = body.replacingOccurrences("Suzhou Industrial Park. Met", "Suzhou Industrial Park (SIP). Met")
        guard case .textDiff(let diff) = FieldChange.text(from: body, to: edited) else {
            Issue.record("expected a diff")
            return
        }
        #expect(diff.wireBytes.count < 400)
        #expect(diff.wireBytes.count < edited.utf8.count / 4)
    }

    @Test func rewrittenTextTravelsWhole() {
        if case .textDiff = FieldChange.text(from: "completely different words here and there, really", to: "nothing in common at all with the previous version of it") {
            Issue.record("a full rewrite should go as the whole text")
        }
    }

    @Test func threeWayMergeKeepsEditsThatDoNotOverlap() {
        let base = "Alpha beta gamma delta."
        #expect(TextMerge.merge(base: base, ours: "Alpha BETA gamma delta.", theirs: "Alpha beta gamma DELTA.") == "Alpha BETA gamma DELTA.")
        #expect(TextMerge.merge(base: base, ours: "Intro. Alpha beta gamma delta.", theirs: "Alpha beta gamma delta. Outro.") == "Intro. Alpha beta gamma delta. Outro.")
        // The same edit on both sides counts once.
        #expect(TextMerge.merge(base: base, ours: "Alpha beta gamma epsilon.", theirs: "Alpha beta gamma epsilon.") == "Alpha beta gamma epsilon.")
        #expect(TextMerge.merge(base: base, ours: "Alpha X gamma Y.", theirs: "Alpha X gamma delta.") == "Alpha X gamma Y.")
    }

    @Test func threeWayMergeRefusesOverlappingEdits() {
        let base = "Alpha beta gamma delta."
        #expect(TextMerge.merge(base: base, ours: "Alpha one gamma delta.", theirs: "Alpha two gamma delta.") == nil)
        // Both insert at the same place: the order would be a guess.
        #expect(TextMerge.merge(base: base, ours: "Alpha beta X gamma delta.", theirs: "Alpha beta Y gamma delta.") == nil)
        // One deletes a stretch the other edits inside.
        #expect(TextMerge.merge(base: base, ours: "Alpha delta.", theirs: "Alpha beta GAMMA delta.") == nil)
    }

    @Test func diffAgainstAnotherBaseIsRefused() {
        let diff = TextDiff(from: "abc def", to: "abc xyz")
        #expect(throws: Rejection.self) { try diff.apply(to: "abc deg") }
        #expect(throws: Rejection.self) { try diff.apply(to: "abc def ") }
    }

    @Test func editsOutsideTheBaseAreRefusedWhenDecoding() {
        let bad = TextDiff(baseLength: 3, baseChecksum: 0, edits: [TextEdit(start: 2, deleteCount: 5, insert: "")])
        #expect(throws: FrameError.self) { try TextDiff(wireBytes: bad.wireBytes) }
        let unordered = TextDiff(baseLength: 10, baseChecksum: 0, edits: [TextEdit(start: 5, deleteCount: 1, insert: ""), TextEdit(start: 1, deleteCount: 1, insert: "")])
        #expect(throws: FrameError.self) { try TextDiff(wireBytes: unordered.wireBytes) }
    }
}
