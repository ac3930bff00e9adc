import SatchelCommandLine
import Testing

@Suite struct LeadingOptionsTests {
    func reorder(_ a: [String]) -> [String] { LeadingOptions.reorder(a, valued: ["--home"], flags: ["--json"]) }

    @Test func optionsBeforeTheSubcommandMoveBehindIt() {
        #expect(reorder(["--home", "/d", "sync"]) == ["sync", "--home", "/d"])
        #expect(reorder(["--json", "--home=/d", "note", "list", "--tag", "x"]) == ["note", "list", "--tag", "x", "--json", "--home=/d"])
        #expect(reorder(["--json", "search", "--", "-odd"]) == ["search", "--json", "--", "-odd"])
    }

    @Test func anythingElseIsLeftForArgumentParser() {
        #expect(reorder(["sync", "--json"]) == ["sync", "--json"])
        #expect(reorder(["--help", "sync"]) == ["--help", "sync"])
        #expect(reorder(["--json"]) == ["--json"])
        #expect(reorder(["--home"]) == ["--home"])
        #expect(reorder(["--verbose", "--json", "sync"]) == ["--verbose", "--json", "sync"])
    }
}
