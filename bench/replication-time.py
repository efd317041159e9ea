# Runs one `wbackup run --no-verify --json` (the command line given as arguments, the
# password file last) and prints the seconds from the first replicate (or upload) step's
# start to the last one's finish, each event stamped as it arrives: the run's whole
# replication, its copies in buckets included. Exits non-zero when the run or one of
# those steps failed. Used by bench/relay.sh and bench/bucket.sh.
import json, os, subprocess, sys, time

# pyenv's python puts its own bin folder first on PATH: WB_PATH, when set, is the PATH
# wbackup must see (a benchmark's shims first).
env = dict(os.environ, PATH=os.environ.get("WB_PATH", os.environ["PATH"]))

p = subprocess.Popen(sys.argv[1:-1] + ["run", "--no-verify", "--json", "--password-file", sys.argv[-1]],
                     stdout=subprocess.PIPE, text=True, env=env)
first = last = None
for line in p.stdout:
    t = time.monotonic()
    e = json.loads(line)
    if e.get("kind") not in ("replicate", "upload"):
        continue
    if e["event"] == "StepStarted" and first is None:
        first = t
    elif e["event"] == "StepFinished":
        if e["outcome"]["result"] != "passed":
            sys.exit(f"replication failed: {e}")
        last = t
if p.wait() != 0 or first is None or last is None:
    sys.exit("the run failed")
print(f"{last - first:.2f}")
