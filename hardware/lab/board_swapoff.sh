#!/bin/sh
# swapoff for a lab board (bound over /usr/sbin/swapoff by the lab's firmware). A board's
# swap areas are emulated (/proc/swaps is a file the firmware wrote at boot from rpi-swap's
# settings, see hardware/lab/firmware.py): turning one off removes it from that table, as
# the kernel would. `swapoff -a` turns them all off. Nothing touches the host's swap.
set -u
table=/run/pilab/kernel/swaps
all=no
targets=""
for arg in "$@"; do
    case "$arg" in
    -a|--all) all=yes ;;
    -v|--verbose) ;;
    -h|--help) echo "usage: swapoff [-a] [-v] [SPECIAL|FILE]... (a lab board's emulated swap)"; exit 0 ;;
    -*) echo "swapoff: option $arg is not emulated on a lab board" >&2; exit 16 ;;
    *) targets="$targets $arg" ;;
    esac
done
[ -w "$table" ] || { echo "swapoff: $table missing: not a lab board" >&2; exit 32; }
header=$(head -n 1 "$table")
if [ "$all" = yes ]; then
    printf '%s\n' "$header" > "$table"
    exit 0
fi
status=0
for target in $targets; do
    if tail -n +2 "$table" | cut -f1 | grep -qxF "$target"; then
        rest=$(tail -n +2 "$table" | awk -F'\t' -v t="$target" '$1 != t')
        { printf '%s\n' "$header"; [ -z "$rest" ] || printf '%s\n' "$rest"; } > "$table"
    else
        echo "swapoff: $target: swapoff failed: Invalid argument" >&2
        status=32
    fi
done
exit $status
