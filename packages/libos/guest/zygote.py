"""The warm Python of a python3 LibOS instance: started by the agent at boot, it imports numpy
once, then waits for its one job on fd 3 and runs the payload script in this same interpreter,
so a pooled task does not pay numpy's import. Never reused: the instance dies after the task."""
import json
import os
import resource
import runpy
import sys

import numpy  # noqa: F401  (the point of the zygote)

# Tell the agent the interpreter is warm: only then does the instance report ready.
with os.fdopen(4, "w") as ready:
    ready.write("1")

with os.fdopen(3, "r") as control:
    line = control.readline()
if not line:
    sys.exit(0)
job = json.loads(line)
for name, value in job["rlimits"]:
    resource.setrlimit(getattr(resource, name), (value, value))
os.environ.clear()
os.environ.update(job["env"])
os.chdir(job["cwd"])
sys.argv = job["argv"]
sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")
