import Foundation

/// A note as `satchel export` writes it: plain values, the briefing entries it links named.
struct ReportNote {
    var id: String
    var space: String
    var title: String
    var body: String
    var tags: [String]
    var author: String?
    var created: Int64
    var updated: Int64
    var links: [(id: String, name: String)]
}

/// The mission report in each format `export` offers. Pure: notes and a time zone in, text out.
enum MissionReport {
    enum Format: String, CaseIterable {
        case markdown, json, csv
    }

    static func render(_ notes: [ReportNote], as format: Format, timeZone: TimeZone, title: String) -> String {
        switch format {
        case .markdown: markdown(notes, timeZone: timeZone, title: title)
        case .json: JSON.array(notes.map { json($0, timeZone: timeZone) }).rendered() + "\n"
        case .csv: csv(notes, timeZone: timeZone)
        }
    }

    /// Grouped by the day a note was written (oldest first), then by its first tag, ready to
    /// paste into a report.
    static func markdown(_ notes: [ReportNote], timeZone: TimeZone, title: String) -> String {
        var out = "# \(title)\n"
        let byDay = Dictionary(grouping: notes) { day($0.created, timeZone) }
        for dayKey in byDay.keys.sorted() {
            out += "\n## \(dayKey)\n"
            let byTag = Dictionary(grouping: byDay[dayKey]!) { $0.tags.sorted().first ?? "" }
            // Untagged notes last, under a heading of their own.
            for tag in byTag.keys.sorted(by: { ($0.isEmpty ? 1 : 0, $0) < ($1.isEmpty ? 1 : 0, $1) }) {
                out += "\n### \(tag.isEmpty ? "Untagged" : "#" + tag)\n"
                for note in byTag[tag]!.sorted(by: { ($0.created, $0.id) < ($1.created, $1.id) }) {
                    out += "\n#### \(oneLine(note.title))\n\n"
                    var meta = [time(note.created, timeZone)]
                    if let author = note.author { meta.append(author) }
                    meta.append(note.space)
                    if !note.tags.isEmpty { meta.append(note.tags.map { "#" + $0 }.joined(separator: " ")) }
                    out += "*" + meta.map(oneLine).joined(separator: " · ") + "*\n"
                    if !note.body.isEmpty { out += "\n" + note.body + "\n" }
                    if !note.links.isEmpty {
                        out += "\nBriefing: " + note.links.map { "\(oneLine($0.name)) (`\($0.id)`)" }.joined(separator: "; ") + "\n"
                    }
                }
            }
        }
        if notes.isEmpty { out += "\nNo notes match.\n" }
        return out
    }

    static func json(_ note: ReportNote, timeZone: TimeZone) -> JSON {
        .object([
            "id": .string(note.id), "space": .string(note.space), "title": .string(note.title), "body": .string(note.body),
            "tags": .array(note.tags.map(JSON.string)), "author": .string(note.author),
            "createdAt": .string(iso(note.created, timeZone)), "updatedAt": .string(iso(note.updated, timeZone)),
            "links": .array(note.links.map { .object(["id": .string($0.id), "name": .string($0.name)]) }),
        ])
    }

    /// RFC 4180: a header, CRLF line ends, fields quoted when they hold a comma, quote or line end.
    static func csv(_ notes: [ReportNote], timeZone: TimeZone) -> String {
        var rows = [["id", "space", "title", "body", "tags", "author", "created", "updated", "briefing"]]
        for n in notes {
            rows.append([
                n.id, n.space, n.title, n.body, n.tags.joined(separator: "; "), n.author ?? "",
                iso(n.created, timeZone), iso(n.updated, timeZone), n.links.map(\.name).joined(separator: "; "),
            ])
        }
        return rows.map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A heading or meta line stays one line whatever the title held.
    static func oneLine(_ s: String) -> String {
        s.components(separatedBy: .newlines).joined(separator: " ")
    }

    static func day(_ millis: Int64, _ tz: TimeZone) -> String {
        formatted(millis, tz, "yyyy-MM-dd")
    }

    static func time(_ millis: Int64, _ tz: TimeZone) -> String {
        formatted(millis, tz, "HH:mm") + (tz.secondsFromGMT() == 0 ? " UTC" : "")
    }

    static func iso(_ millis: Int64, _ tz: TimeZone) -> String {
        let style = Date.ISO8601FormatStyle(timeSeparator: .colon, timeZoneSeparator: .colon, timeZone: tz)
        return Date(timeIntervalSince1970: Double(millis) / 1000).formatted(style)
    }

    private static func formatted(_ millis: Int64, _ tz: TimeZone, _ pattern: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = tz
        f.dateFormat = pattern
        return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    /// `--since`: a day (`2026-11-02`, from its start in `tz`) or an ISO 8601 time.
    static func parseSince(_ text: String, timeZone tz: TimeZone) -> Int64? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = tz
        f.dateFormat = "yyyy-MM-dd"
        if text.count == 10, let d = f.date(from: text) { return Int64(d.timeIntervalSince1970 * 1000) }
        if let d = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return Int64(d.timeIntervalSince1970 * 1000) }
        return nil
    }
}
