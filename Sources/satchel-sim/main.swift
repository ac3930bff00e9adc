import Foundation
import SatchelSimulation

// satchel-sim: the deterministic simulation's long sweep, in a release build (CI runs it; the
// test suite, in a debug build, sweeps fewer seeds).
//   satchel-sim [--seeds N]          seeds 1...N (2000), each run twice; exit 1 if any fails
//   satchel-sim --seed N [--trace]   one seed, with its report (and its trace of every event)
//   --servers N                      server processes sharing the store (default 2; 1: one server)

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("satchel-sim: \(message)\n".utf8))
    exit(2)
}

var seeds: UInt64 = 2_000
var single: UInt64?
var trace = false
var configuration = SimulationConfiguration.default
var args = Array(CommandLine.arguments.dropFirst())
while !args.isEmpty {
    switch args.removeFirst() {
    case "--seeds": seeds = args.isEmpty ? 0 : UInt64(args.removeFirst()) ?? 0
    case "--seed": single = args.isEmpty ? nil : UInt64(args.removeFirst())
    case "--trace": trace = true
    case "--servers":
        guard let n = args.isEmpty ? nil : Int(args.removeFirst()), n > 0 else { fail("--servers needs a positive number, e.g. --servers 2") }
        configuration.servers = n
    case "-h", "--help":
        print("""
            usage: satchel-sim [--seeds N]          seeds 1...N (default 2000), each run twice
                   satchel-sim --seed N [--trace]   one seed's report, with every event traced
                   --servers N                      servers sharing the store (default 2)
            examples: satchel-sim --seeds 5000
                      satchel-sim --seed 268 --trace > seed-268.txt
            """)
        exit(0)
    case let other: fail("unknown argument '\(other)'; see --help")
    }
}

if let seed = single {
    configuration.trace = trace
    let report = await Simulation.verify(seed: seed, configuration: configuration)
    if trace { print(report.trace.joined(separator: "\n")) }
    print(report)
    exit(report.problems.isEmpty ? 0 : 1)
}
guard seeds > 0 else { fail("--seeds needs a positive number, e.g. --seeds 2000") }
let started = ContinuousClock.now
let failing = await Simulation.sweep(seeds: seeds, workers: ProcessInfo.processInfo.activeProcessorCount, configuration: configuration)
let elapsed = ContinuousClock.now - started
if failing.isEmpty {
    print("satchel-sim: \(seeds) seeds, each run twice, passed in \(elapsed)")
    exit(0)
}
print(Simulation.summary(of: failing, seeds: seeds, replay: "satchel-sim --seed <seed> --trace"))
exit(1)
