#!/usr/bin/env python3
"""Runs a benchmark command when the machine is quiet, and again when it was not.

These machines are shared: another process's build can take a core in the middle of
a timed run. Before each try this waits (up to --max-wait seconds in all) until other
processes use under --threshold of the CPUs; after it, it compares the CPU time the
whole machine spent with the command's own: when others took more than --threshold,
the output is dropped and the command runs again (at most --tries times). Output of
the kept try goes to stdout; a note per try goes to stderr.

  python3 Benchmarks/quiet.py [--threshold 0.05] [--tries 4] -- grpo bench --json --quiet
"""
import argparse, os, resource, subprocess, sys, time

HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1


def busy_seconds():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / HZ


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def others_share(seconds):
    b0, t0 = busy_seconds(), time.time()
    time.sleep(seconds)
    return (busy_seconds() - b0) / (NCPU * (time.time() - t0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--tries", type=int, default=4)
    ap.add_argument("--max-wait", type=float, default=600)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    waited = 0.0
    for attempt in range(1, a.tries + 1):
        while waited < a.max_wait and others_share(1.0) > a.threshold:
            waited += 1.0
        b0, c0, t0 = busy_seconds(), children_cpu(), time.time()
        done = subprocess.run(cmd, stdout=subprocess.PIPE)
        wall = time.time() - t0
        share = ((busy_seconds() - b0) - (children_cpu() - c0)) / (NCPU * wall)
        note = f"quiet.py: try {attempt}: {wall:.1f} s, others {share:.1%} of the CPUs"
        if done.returncode != 0:
            sys.exit(f"{note}; exit status {done.returncode}")
        if share <= a.threshold or attempt == a.tries:
            print(note + ("" if share <= a.threshold else " (kept: out of tries)"), file=sys.stderr)
            sys.stdout.buffer.write(done.stdout)
            return
        print(note + ", again", file=sys.stderr)


if __name__ == "__main__":
    main()
