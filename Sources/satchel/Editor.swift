import ArgumentParser
import Foundation

/// Opens `$EDITOR` (or `vi`) on a temporary file and returns what the user saved.
enum Editor {
    static func edit(_ initial: String, hint: String) throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("satchel-\(UUID().uuidString).md")
        guard FileManager.default.createFile(atPath: path, contents: Data(initial.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CLIError(.local, "cannot create a temporary file for the editor in \(NSTemporaryDirectory())")
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let env = ProcessInfo.processInfo.environment
        let editor = env["EDITOR"].flatMap { $0.isEmpty ? nil : $0 } ?? "vi"
        Output.error(hint)
        // Through the shell, so EDITOR may carry arguments ("code --wait").
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\(editor) \"$1\"", "satchel-editor", path]
        do {
            try process.run()
        } catch {
            throw CLIError(.local, "cannot start the editor '\(editor)' (\(error)); set $EDITOR, or give the text with --body")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLIError(.local, "the editor '\(editor)' exited with status \(process.terminationStatus); nothing was saved")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(.local, "cannot read back the edited file; nothing was saved")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Where a note's body comes from: --body TEXT, --body - (stdin), --body-file FILE.
struct BodyOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The note's text; `-` reads it from standard input.", valueName: "text"))
    var body: String?

    @Option(name: .customLong("body-file"), help: ArgumentHelp("Read the note's text from a file (`-`: standard input).", valueName: "file"))
    var bodyFile: String?

    var isGiven: Bool { body != nil || bodyFile != nil }

    func validate() throws {
        if body != nil && bodyFile != nil { throw UsageError("give the text once: --body or --body-file, not both") }
        if let bodyFile, bodyFile != "-", !FileManager.default.isReadableFile(atPath: bodyFile) {
            throw UsageError("cannot read '\(bodyFile)'; check the path given to --body-file")
        }
    }

    /// The text given, or nil when none was.
    func read() throws -> String? {
        if body == "-" || bodyFile == "-" {
            return try Self.text(FileHandle.standardInput.readDataToEndOfFile(), from: "standard input")
        }
        if let bodyFile {
            guard let data = FileManager.default.contents(atPath: bodyFile) else {
                throw CLIError(.usage, "cannot read '\(bodyFile)'; check the path given to --body-file")
            }
            return try Self.text(data, from: "'\(bodyFile)'")
        }
        return body
    }

    /// The bytes as text, refusing what is not: decoding a photo or a PDF would replace its bytes
    /// with U+FFFD and save a note of garbage the person never typed.
    static func text(_ data: Data, from source: String) throws -> String {
        guard let text = String(validating: data, as: UTF8.self), !text.utf8.contains(0) else {
            throw CLIError(.usage, "\(source) is not text (it holds bytes that are not UTF-8 text, like a photo's or a PDF's); a note's body takes a text file, e.g. --body-file minutes.md")
        }
        return text
    }
}

/// Splits text into a title (its first line, without a Markdown `#`) and the rest.
func splitTitle(_ text: String) -> (title: String, body: String) {
    let trimmed = text.drop(while: \.isNewline)
    let lines = trimmed.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
    var title = lines.first.map(String.init) ?? ""
    while title.hasPrefix("#") { title.removeFirst() }
    let body = lines.count > 1 ? String(lines[1].drop(while: \.isNewline)) : ""
    return (title.trimmingCharacters(in: .whitespaces), body.trimmingTrailingNewlines)
}

extension String {
    var trimmingTrailingNewlines: String {
        var s = self
        while s.last?.isNewline == true { s.removeLast() }
        return s
    }
}
