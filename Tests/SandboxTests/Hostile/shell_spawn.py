# hostile: starts a shell that outlives the program
# family: spawning shells or subprocesses
# expect: assertion_failed
import subprocess

subprocess.Popen(["/bin/sh", "-c", "sleep 60"])


def f(x):
    return 0
