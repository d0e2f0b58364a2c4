"""match: every /regex/ match value of a rules file against one value of 1 KiB, 40 KiB and
1 MiB, timing the matching alone (no HTTP, no database).

An alert's name or label value is untrusted and may be as large as the body (1 MiB): with RE2
the whole file's regexes must take milliseconds on it, and the same on a second run. Without
--rules it uses scripts/bench.d/match_rules.yaml: the regexes operators write, plus the ones
that crashed or hung a backtracking matcher. Three values per size: 'a' repeated (no match for
most, so each regex reads all of it), random printable text, and a value that ends in a match.
"cold" is the first pass after loading (RE2 builds its automaton then), "warm" the median of
the next passes. The driver (scripts/bench.d/bench_match.cpp) is the target bench_match of
CMakeLists.txt, outside `all`: built here into build/release.
"""
import os
import subprocess

import benchlib as b


def run(ctx):
    release = os.path.join(b.ROOT, "build", "release")
    if not os.path.exists(os.path.join(release, "build.ninja")):
        raise b.Failure("match needs build/release: scripts/build release")
    built = subprocess.run([os.path.join(b.ROOT, "scripts", "build"), "release", "bench_match"],
                           capture_output=True, text=True)
    if built.returncode != 0:
        raise b.Failure("building bench_match failed:\n" + built.stdout[-3000:] + built.stderr[-3000:])
    driver = os.path.join(release, "bench_match")
    rules = os.path.abspath(ctx.args.rules) if ctx.args.rules else os.path.join(b.HERE, "match_rules.yaml")
    proc = subprocess.run([driver, rules, "5" if ctx.quick else "20"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise b.Failure(f"bench_match failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    b.log(proc.stdout)
    return {"text": proc.stdout}
