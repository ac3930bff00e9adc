#!/bin/sh
# The whole Swift suite in two phases (run by `make test`, inside with-postgres.sh).
#
# Swift Testing starts every test at once, and on two cores the busiest ones (the store
# conformance suite, the simulation sweep, crash tests with child processes) can hold back
# another test's work for many seconds. The suites below check that something happens while
# something else is still under way (a kill -9 landing inside a push, a live event arriving
# before a heartbeat could have carried it, a small push answered while every admission place
# is held). They pass on a quiet machine and have failed on CI only when starved, so they run
# after the rest, by themselves, where a failure means the code and not the load.
set -eu
SWIFT=${SWIFT:-swift}
ALONE='ClusterTests|ChangeFeedTests|AdmissionRouteTests|LiveRevocationTests'
# Both phases run even when the first fails, so one run reports every failure.
echo "satchel: the suite, except $ALONE" >&2
rest=0; "$SWIFT" test --skip-build --skip "$ALONE" || rest=$?
echo "satchel: $ALONE, on their own" >&2
alone=0; "$SWIFT" test --skip-build --filter "$ALONE" || alone=$?
[ $rest -eq 0 ] && [ $alone -eq 0 ]
