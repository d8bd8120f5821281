#!/usr/bin/env bash
# What an edit costs: `make release` on the demo book (11 parts, texts/ and recordings/ of the repository)
# in a scratch copy of the project, after one metadata edit (the book's subtitle in book.toml) and after
# one sentence of a story is edited. Prints the wall time of each and the stages that ran.
# Goals (issue 13): subtitle edit <= 20 s (was 70 s: every recording re-mastered), sentence edit <= 10 s
# (was 16.8 s); the no-op release within 2 s. Issue 14: a text edit re-joins the audiobook in seconds,
# without re-encoding (no `aac` stage runs).
#   bench/edits.sh [WORKDIR]     (the first run builds the release from clean; later runs reuse it)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/tmp/bench-edits}
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || make -C "$ROOT" venv

mkdir -p "$WORK/proj"
cd "$WORK/proj"
for f in Makefile pyproject.toml constraints.txt package.json package-lock.json; do cp -p "$ROOT/$f" .; done
for d in pipeline scripts .venv node_modules; do ln -sfn "$ROOT/$d" "$d"; done
if [ ! -d texts ]; then cp -rp "$ROOT/texts" "$ROOT/recordings" .; fi

# Every figure is the wall time of `make release` (make -j on every core, as a user runs it).
release() {   # release LABEL: time one release, print it and the stages it ran
  local log="$WORK/$(echo "$1" | tr ' ' '-').log" t0 t1
  t0=$(date +%s.%N)
  make release >"$log" 2>&1 || { tail -20 "$log"; exit 1; }
  t1=$(date +%s.%N)
  printf '%-34s %6.1f s   stages: %s\n' "$1" "$(echo "$t1 - $t0" | bc)" \
    "$(grep -oE -- '-m pipeline [a-z-]+' "$log" | awk '{print $3}' | sort | uniq -c | awk '{printf "%s%s ", $2, ($1 > 1 ? "x" $1 : "")}')"
}

if [ ! -f build/published ]; then
  echo "building the release from clean (once; kept in $WORK/proj)..."
  release "release from clean"
fi
release "no-op release"

# the subtitle: toggled between two wordings, so that every run makes a real edit
if grep -q '^subtitle = "The case for' texts/book.toml; then
  sed -i 's/^subtitle = "The case for/subtitle = "The whole case for/' texts/book.toml
else
  sed -i 's/^subtitle = "The whole case for/subtitle = "The case for/' texts/book.toml
fi
release "after a subtitle edit"

# one sentence of one story, toggled likewise
story=texts/05-poppys.md
if grep -q 'a family sat around her coffin' "$story"; then
  sed -i 's/a family sat around her coffin/one family sat around her coffin/' "$story"
else
  sed -i 's/one family sat around her coffin/a family sat around her coffin/' "$story"
fi
release "after a sentence edit"
# issue 14: a text edit only re-joins the audiobook (no AAC encode: `aac` must not be among the stages
# above); the join alone, timed again here on the same inputs
t0=$(date +%s.%N)
"$PY" -m pipeline audiobook texts --sync build/sync --aac build/m4b --cover build/cover.png -o "$WORK/remux.m4b" >/dev/null
t1=$(date +%s.%N)
printf '%-34s %6.1f s   (%s)\n' "audiobook join alone" "$(echo "$t1 - $t0" | bc)" \
  "$(cmp -s "$WORK/remux.m4b" build/site/*.m4b && echo "byte-identical to the release's M4B" || echo "DIFFERS from the release's M4B")"
rm -f "$WORK/remux.m4b"
release "no-op release"
echo "load average while measuring: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
