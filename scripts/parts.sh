# Sourced by the figure scripts (capacity.sh, workloads.sh) from the repository root, with the
# script's arguments: builds the release binary ($bin), and `run PART` says whether PART was
# asked for (no argument: every part).
bin=.build/release/engram
swift build -c release --product engram >/dev/null
part=${1:-all}
run() { [ "$part" = all ] || [ "$part" = "$1" ]; }
