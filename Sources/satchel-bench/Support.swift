import Foundation
import Glibc
import Synchronization
import SatchelTesting

// Measuring tools shared by the orchestrator and its worker processes: a system-wide monotonic
// clock (so two processes agree on phase windows), CPU time, resident memory, percentiles.

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process on the machine.
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func seconds(since start: UInt64) -> Double { Double(monotonicNanos() - start) / 1e9 }

/// User plus system CPU seconds of this process (all threads).
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

/// A field of /proc/self/status in KiB (VmRSS: resident now; VmHWM: peak resident so far).
func procStatusKiB(_ field: String) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "0") ?? 0
    }
    return 0
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    // Nearest rank: the smallest value with at least p% of the values at or below it.
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

func median(_ values: [Double]) -> Double { percentile(values, 50) }

/// Resident memory now, in KiB, from /proc/self/statm. The sampler keeps the file open and
/// rereads it (`pread` at 0): opening it every 10 ms was 2% of the server process's samples.
func residentKiB(statm fd: Int32) -> Int {
    var buffer = [UInt8](repeating: 0, count: 128)
    let n = pread(fd, &buffer, buffer.count, 0)
    guard n > 0 else { return 0 }
    // "size resident shared …" in pages.
    let fields = buffer[0..<n].split(separator: UInt8(ascii: " "))
    guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
}

/// Samples this process's CPU time and resident memory every 10 ms on its own thread, so the
/// orchestrator (which hosts the in-process server) can attribute CPU and memory to a window
/// another process reports in monotonic time.
final class Sampler: Sendable {
    private struct State {
        var times: [UInt64] = []
        var cpu: [Double] = []
        var rss: [Int] = []
        var running = true
    }
    private let state = Mutex(State())

    init() {
        let thread = Thread { [self] in
            let statm = open("/proc/self/statm", O_RDONLY)
            defer { if statm >= 0 { close(statm) } }
            while true {
                let t = monotonicNanos(), c = processCPUSeconds(), r = statm >= 0 ? residentKiB(statm: statm) : 0
                let go = state.withLock { s -> Bool in
                    s.times.append(t)
                    s.cpu.append(c)
                    s.rss.append(r)
                    return s.running
                }
                if !go { return }
                usleep(10_000)
            }
        }
        thread.start()
    }

    func stop() { state.withLock { $0.running = false } }

    /// CPU seconds this process used between two monotonic instants (interpolated).
    func cpu(from t0: UInt64, to t1: UInt64) -> Double {
        state.withLock { s in
            func at(_ t: UInt64) -> Double {
                guard let last = s.times.last, !s.times.isEmpty else { return processCPUSeconds() }
                if t >= last { return s.cpu[s.cpu.count - 1] }
                guard let i = s.times.firstIndex(where: { $0 >= t }) else { return s.cpu.last! }
                if i == 0 { return s.cpu[0] }
                let (ta, tb) = (Double(s.times[i - 1]), Double(s.times[i]))
                let f = tb > ta ? (Double(t) - ta) / (tb - ta) : 1
                return s.cpu[i - 1] + f * (s.cpu[i] - s.cpu[i - 1])
            }
            return max(0, at(t1) - at(t0))
        }
    }

    /// The highest resident set size sampled between two instants, in KiB.
    func maxRSS(from t0: UInt64, to t1: UInt64) -> Int {
        state.withLock { s in
            var best = 0
            for (i, t) in s.times.enumerated() where t >= t0 && t <= t1 { best = max(best, s.rss[i]) }
            return best
        }
    }
}

/// Formats numbers the way the tables show them.
enum Fmt {
    static func int(_ v: Double) -> String {
        let n = Int(v.rounded())
        let s = String(abs(n))
        var out = ""
        for (i, c) in s.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + String(out.reversed())
    }
    static func dec(_ v: Double, _ places: Int = 1) -> String { String(format: "%.\(places)f", v) }
    static func ms(_ seconds: Double) -> String {
        let ms = seconds * 1000
        return ms < 10 ? String(format: "%.2f ms", ms) : ms < 100 ? String(format: "%.1f ms", ms) : String(format: "%.0f ms", ms)
    }
    static func mib(_ kib: Int) -> String { String(format: "%.1f MiB", Double(kib) / 1024) }
    static func pct(_ v: Double) -> String { String(format: "%.0f%%", v * 100) }
}

/// Stable, seeded note content: note `i` is the same in every process and every run.
struct NoteFactory: Sendable {
    let words: [String]
    let seed: UInt64

    init(seed: UInt64) {
        self.seed = seed
        words = CodecBenchmark.corpus()
    }

    struct Note: Sendable {
        var title: String
        var body: String
        var tags: [String]
        var createdAt: Int64
    }

    /// A past time, so seeded clocks never run ahead of the server's.
    static let epoch: Int64 = 1_790_000_000_000

    func rng(_ i: Int, salt: UInt64 = 0) -> SplitMix64 {
        SplitMix64(seed: seed &* 0x2545_F491_4F6C_DD1D &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15 &+ salt)
    }

    /// Title, a 500–2,000 character body of consecutive words of the briefing summaries, 3 tags.
    func note(_ i: Int) -> Note {
        var rng = rng(i)
        let target = Int.random(in: 500...2000, using: &rng)
        var at = Int.random(in: 0..<words.count, using: &rng)
        var body = ""
        body.reserveCapacity(target + 32)
        while body.utf8.count < target {
            body += words[at]
            body += " "
            at = (at + 1) % words.count
        }
        let title = "Note \(i): \(words.randomElement(using: &rng)!) \(words.randomElement(using: &rng)!)"
        let tags = (0..<3).map { _ in Self.tag(words.randomElement(using: &rng)!) }
        return Note(title: title, body: body, tags: Array(Set(tags)).sorted(), createdAt: Self.epoch + Int64(i) * 1000)
    }

    static func tag(_ word: String) -> String {
        let t = String(word.lowercased().filter { $0.isLetter || $0.isNumber }.prefix(40))
        return t.isEmpty ? "misc" : t
    }
}

/// glibc's malloc_trim(0): returns freed heap pages to the system (malloc.h is not in the Glibc
/// module, so it is looked up at run time).
func trimHeap() {
    typealias Trim = @convention(c) (Int) -> Int32
    guard let symbol = dlsym(nil, "malloc_trim") else { return }
    _ = unsafeBitCast(symbol, to: Trim.self)(0)
}
