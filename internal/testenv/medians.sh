#!/usr/bin/env bash
# Prints the median of each benchmark in a `go test -bench` output, and for
# each mab/handrun and mab/buildx pair the ratio mab ÷ handrun or mab ÷
# buildx (below 1: mab is faster), then the median of every other metric a
# benchmark reports.
set -euo pipefail
grep '^Benchmark' "$1" | awk '
{ name = $1; sub(/-[0-9]+$/, "", name)
  # A benchmark that times buildx beside mab (buildx-ns/op) counts as
  # the pair NAME/mab and NAME/buildx.
  bx = ""
  for (i = 4; i <= NF; i++) if ($i == "buildx-ns/op") bx = $(i - 1)
  if (bx != "") { vals[name "/mab"] = vals[name "/mab"] " " $3; vals[name "/buildx"] = vals[name "/buildx"] " " bx }
  else vals[name] = vals[name] " " $3 }
END { for (n in vals) print n vals[n] }' | sort | while read -r name rest; do
  med=$(tr ' ' '\n' <<<"$rest" | grep . | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]/1e9}')
  echo "$name $med"
done | awk '
{ med[$1] = $2; order[++n] = $1; printf "%-45s %8ss\n", $1, $2 }
END {
  print ""
  for (i = 1; i <= n; i++) if (order[i] ~ /\/mab$/) {
    h = order[i]; sub(/\/mab$/, "/handrun", h)
    if (h in med) printf "%-45s mab/handrun = %.2f\n", substr(order[i], 1, length(order[i]) - 4), med[order[i]] / med[h]
    x = order[i]; sub(/\/mab$/, "/buildx", x)
    if (x in med) printf "%-45s mab/buildx = %.2f\n", substr(order[i], 1, length(order[i]) - 4), med[order[i]] / med[x]
  }
}'

# The custom metrics a benchmark reports besides ns/op (buildx-ns/op,
# mab/buildx, mab-MB/op…): the median of each, times in seconds.
grep '^Benchmark' "$1" | awk '
{ name = $1; sub(/-[0-9]+$/, "", name)
  for (i = 5; i < NF; i += 2) {
    u = $(i + 1)
    if (u == "B/op" || u == "allocs/op" || u == "MB/s") continue
    k = name " " u; vals[k] = vals[k] " " $i
  } }
END { for (k in vals) print k vals[k] }' | sort | while read -r name unit rest; do
  med=$(tr ' ' '\n' <<<"$rest" | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$name $unit $med"
done | awk '
NR == 1 { print "" }
$2 ~ /ns\/op$/ { sub(/ns\/op$/, "s", $2); printf "%-45s %-14s %8.3f\n", $1, $2, $3 / 1e9; next }
{ printf "%-45s %-14s %8.3f\n", $1, $2, $3 }'
