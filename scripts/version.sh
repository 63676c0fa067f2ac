#!/usr/bin/env bash
# Prints the package version of this checkout, from git describe:
#   on a tag v1.2.3                  1.2.3
#   5 commits after v1.2.3           1.2.3+git5.gabc1234def0   (sorts after 1.2.3)
#   no tag yet                       0.0.0~git211.gabc1234def0 (sorts before any release; the count
#                                    of commits keeps upgrades in order)
# with ".dirty" appended when the work tree has changes. Valid for dpkg and rpm alike.
set -euo pipefail
cd "$(dirname "$0")/.."
dirty=
if ! git diff --quiet HEAD -- 2>/dev/null; then dirty=.dirty; fi
if desc=$(git describe --tags --long --match 'v[0-9]*' 2>/dev/null); then
  # v1.2.3-5-gabc1234
  tag=${desc%-*-g*}
  rest=${desc#"$tag"-}
  n=${rest%%-*}
  hash=${rest#*-}
  v=${tag#v}
  if [ "$n" != 0 ]; then v="$v+git$n.$hash"; fi
else
  v="0.0.0~git$(git rev-list --count HEAD).g$(git rev-parse --short=12 HEAD)"
fi
echo "$v$dirty"
