/// Many seeds at once: what the test suite and `satchel-sim` run.
extension Simulation {
    /// Verifies seeds `1...count` (each twice, for determinism), split across `workers` tasks;
    /// the reports with problems, by seed.
    public static func sweep(seeds count: UInt64, workers: Int, configuration: SimulationConfiguration = .default) async -> [SimulationReport] {
        let workers = UInt64(max(1, workers))
        return await withTaskGroup(of: [SimulationReport].self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var failing: [SimulationReport] = []
                    for seed in stride(from: 1 + worker, through: count, by: Int(workers)) {
                        let report = await Simulation.verify(seed: seed, configuration: configuration)
                        if !report.problems.isEmpty { failing.append(report) }
                        // Share the cooperative threads with whatever else runs.
                        await Task.yield()
                    }
                    return failing
                }
            }
            var all: [SimulationReport] = []
            for await part in group { all += part }
            return all.sorted { $0.seed < $1.seed }
        }
    }

    /// The failing seeds of a sweep of `count` seeds, one example of each kind of problem, and how
    /// to replay one (`replay`, e.g. the command line that does).
    public static func summary(of failing: [SimulationReport], seeds count: UInt64, replay: String) -> String {
        var examples: [String: String] = [:]
        var seedsByKind: [String: Int] = [:]
        for report in failing {
            for kind in Set(report.problems.map(\.kind)) { seedsByKind[kind, default: 0] += 1 }
            for problem in report.problems where examples[problem.kind] == nil {
                examples[problem.kind] = "seed \(report.seed): \(problem.message)"
            }
        }
        let kinds = examples.keys.sorted().map { "  [\($0)] in \(seedsByKind[$0]!) seeds, e.g. \(examples[$0]!)" }.joined(separator: "\n")
        let seeds = failing.prefix(40).map { String($0.seed) }.joined(separator: ", ")
        return """
            \(failing.count) of \(count) seeds failed: \(seeds)\(failing.count > 40 ? ", …" : "")
            first problem of each kind:
            \(kinds)
            replay one with \(replay)
            """
    }
}
