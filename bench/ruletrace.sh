#!/usr/bin/env bash
# Run one pipeline command and append a line to the trace $RULETRACE: start and end (seconds since the
# epoch), the user and system CPU time of the command and its children (bash's `times`), the exit code
# and the command. bench/release.sh puts it in front of every pipeline command (PIPELINE=...), and
# `bench/ruletrace.py show TRACE` reads the trace. (bash, not Python: a few milliseconds per command.)
start=$EPOCHREALTIME
"$@"
rc=$?
end=$EPOCHREALTIME
times > "$RULETRACE.$$"        # in this shell (a subshell would report its own children: none)
{ read -r _; read -r user sys; } < "$RULETRACE.$$"
rm -f "$RULETRACE.$$"
printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$start" "$end" "$user" "$sys" "$rc" "$*" >> "${RULETRACE:?RULETRACE names the trace file}"
exit $rc
