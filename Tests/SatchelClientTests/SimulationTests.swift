import Foundation
import SatchelSimulation
import Testing

/// The deterministic simulation (`SatchelSimulation`): devices running `SyncSession` (the client's
/// shipped sync) against two `SyncService`s, each over its own `MemoryServerStore` object on one
/// shared store and each request reaching either at random, on a network that drops,
/// delays, duplicates and partitions, with devices and the server crashing.
///
/// Replay one seed with its full event trace:
/// `SATCHEL_SIM_SEED=<seed> swift test --skip-build --filter SimulationTests`
/// (with `SATCHEL_SIM_TRACE=<file>` the trace goes to that file)
@Suite struct SimulationTests {
    /// Seeds of the main sweep; each runs twice (the second run checks determinism). 300 in this
    /// debug build (about two minutes); `make sim` and CI sweep 2,000 in a release build.
    /// `SATCHEL_SIM_SEEDS=<n>` runs seeds 1...n instead.
    static var seedCount: UInt64 {
        ProcessInfo.processInfo.environment["SATCHEL_SIM_SEEDS"].flatMap { UInt64($0) } ?? 300
    }

    /// The configuration of every run.
    static let configuration = SimulationConfiguration.default

    static var replaySeed: UInt64? {
        ProcessInfo.processInfo.environment["SATCHEL_SIM_SEED"].flatMap { UInt64($0) }
    }

    @Test func randomHistoriesConvergeWithNothingLost() async {
        if let seed = Self.replaySeed {
            var configuration = Self.configuration
            configuration.trace = true
            let report = await Simulation.verify(seed: seed, configuration: configuration)
            // SATCHEL_SIM_TRACE=<file> writes the trace there (a long one can be mangled on stdout).
            if let file = ProcessInfo.processInfo.environment["SATCHEL_SIM_TRACE"] {
                try? report.trace.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
            } else {
                print(report.trace.joined(separator: "\n"))
            }
            print(report)
            #expect(report.problems.isEmpty, "seed \(seed): \(report.problems.count) problems (see the report above)")
            return
        }
        // About 11 ms of CPU per run in a release build; `make test` runs a debug build, so it
        // sweeps fewer seeds, and CI sweeps 2,000 with the release `satchel-sim`.
        let count = Self.seedCount
        let failing = await Simulation.sweep(seeds: count, workers: min(8, ProcessInfo.processInfo.activeProcessorCount), configuration: Self.configuration)
        guard !failing.isEmpty else { return }
        Issue.record("""
            \(Simulation.summary(of: failing, seeds: count, replay: "SATCHEL_SIM_SEED=<seed> swift test --skip-build --filter SimulationTests"))
            """)
    }

    @Test func simulationExercisesTheFaults() async {
        var total = SimulationReport(seed: 0)
        for seed in UInt64(1)...200 {
            let r = await Simulation.run(seed: seed)
            total.writes += r.writes
            total.sharedCreates += r.sharedCreates
            total.patches += r.patches
            total.deletes += r.deletes
            total.conflictDeletes += r.conflictDeletes
            total.dropped += r.dropped
            total.duplicated += r.duplicated
            total.delayed += r.delayed
            total.reordered += r.reordered
            total.partitions += r.partitions
            total.partitionDrops += r.partitionDrops
            total.timeouts += r.timeouts
            total.staleAnswers += r.staleAnswers
            total.oversizedWrites += r.oversizedWrites
            total.deviceCrashes += r.deviceCrashes
            total.serverCrashes += r.serverCrashes
            total.snapshotBuilds += r.snapshotBuilds
            total.operatorResets += r.operatorResets
            total.briefingUpdates += r.briefingUpdates
            total.finishedSyncs += r.finishedSyncs
            total.failedSyncs += r.failedSyncs
            total.repushedMutations += r.repushedMutations
            total.merged += r.merged
            total.conflictResults += r.conflictResults
            total.conflictRecords += r.conflictRecords
            total.compactions += r.compactions
            total.cursorExpired += r.cursorExpired
            total.resets += r.resets
            total.resends += r.resends
            total.gaps += r.gaps
            total.messagesSent += r.messagesSent
            total.pushes += r.pushes
            total.pulls += r.pulls
            total.pullsOmittingOwn += r.pullsOmittingOwn
            total.creates += r.creates
            total.steps += r.steps
            total.restores += r.restores
            total.restoreRecoveries += r.restoreRecoveries
            total.wrongDates += r.wrongDates
            total.restamped += r.restamped
            total.replayedIDsRefused += r.replayedIDsRefused
            total.requestsPerServer.merge(r.requestsPerServer, uniquingKeysWith: +)
        }
        print("totals over seeds 1...200:\n\(total)")
        #expect(total.writes > 0 && total.patches > 0 && total.deletes > 0 && total.sharedCreates > 0)
        #expect(total.conflictDeletes > 0, "no device ever resolved a conflict")
        #expect(total.dropped > 0, "no message was dropped")
        #expect(total.duplicated > 0, "no message was duplicated")
        #expect(total.delayed > 0 && total.reordered > 0, "no message was delayed past another")
        #expect(total.partitions > 0 && total.partitionDrops > 0, "no partition cut a message")
        #expect(total.timeouts > 0 && total.staleAnswers > 0, "no exchange timed out and answered late")
        #expect(total.oversizedWrites > 0, "no write too long for any push was set aside")
        #expect(total.deviceCrashes > 0 && total.serverCrashes > 0, "nothing crashed")
        #expect(total.snapshotBuilds > 0 && total.operatorResets > 0 && total.briefingUpdates > 0, "no operator work ran")
        #expect(total.finishedSyncs > 0 && total.failedSyncs > 0, "syncs never finished, or never failed")
        #expect(total.repushedMutations > 0, "no mutation was pushed twice")
        #expect(total.merged > 0, "no concurrent edit merged")
        #expect(total.pullsOmittingOwn > 0, "no pull left out the device's own writes")
        #expect(total.conflictResults > 0 && total.conflictRecords > 0, "no conflict happened")
        #expect(total.compactions > 0 && total.cursorExpired > 0 && total.resets > 0, "no device re-bootstrapped after compaction")
        #expect(total.restores > 0 && total.restoreRecoveries > 0, "no device was restored from a backup and recovered")
        #expect(total.wrongDates > 0 && total.restamped > 0, "no write was stamped again after a wrong date")
        #expect(total.replayedIDsRefused > 0, "no device replayed another's mutation ids")
        // Two servers share the store, and requests reach both.
        #expect(total.requestsPerServer.count == 2 && total.requestsPerServer.values.allSatisfy { $0 > 0 }, "\(total.requestsPerServer)")
    }

    @Test func aSeedReplaysIdentically() async {
        let a = await Simulation.run(seed: 7)
        let b = await Simulation.run(seed: 7)
        #expect(a == b)
        #expect(a.messagesSent > 0)
        #expect(await Simulation.run(seed: 8).digest != a.digest)
    }
}
