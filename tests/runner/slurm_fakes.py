"""A SLURM cluster's commands, faked for the tests: ``sbatch``, ``squeue``, ``sacct`` and ``srun`` as scripts in a
folder put first on ``PATH``. They answer as SLURM does, for the subset of options se-variants and submitit use, and
refuse any other (so a change in how we call them cannot pass unnoticed):

* ``sbatch <script>``: keeps a copy of the script (``sbatch_<id>.sh``), logs the call, prints ``Submitted batch job
  <id>`` (what submitit parses), ids counting up from 4100; or, once :meth:`FakeSlurm.refuse` was called, exits 1
  with SLURM's error;
* ``squeue --noheader --array --format=%i|%T|%R --jobs=<ids>``: the lines of the ``queue`` file (``id|STATE|reason``)
  whose job or array id was asked for; ``slurm_load_jobs error: Invalid job id specified`` (exit 1) when none is;
* ``sacct --noheader --parsable2 --allocations --format=JobID,State --jobs=<ids>``: the lines of the ``accounting``
  file (``id|STATE``) asked for;
* ``srun [--opt value ...] command``: runs the command (the test plays the node: it runs a submitted script with the
  environment SLURM gives an array task, :meth:`FakeSlurm.run_task`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SBATCH = '''
import shutil, sys
from pathlib import Path
home = Path(__file__).resolve().parent.parent
if (home / "refuse").exists():
    sys.exit((home / "refuse").read_text())
counter = home / "next_id"
job = int(counter.read_text()) if counter.exists() else 4100
shutil.copyfile(sys.argv[-1], home / f"sbatch_{job}.sh")
with open(home / "sbatch_calls", "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
counter.write_text(str(job + 1))
print(f"Submitted batch job {job}")
'''

SQUEUE = '''
import sys
from pathlib import Path
home = Path(__file__).resolve().parent.parent
args = sys.argv[1:]
with open(home / "squeue_calls", "a") as f:
    f.write(" ".join(args) + "\\n")
jobs = [a.split("=", 1)[1] for a in args if a.startswith("--jobs=")]
if sorted(a for a in args if not a.startswith("--jobs=")) != ["--array", "--format=%i|%T|%R", "--noheader"] or not jobs:
    sys.exit(f"fake squeue: unexpected options {args}")
asked = set(jobs[0].split(","))
queue = (home / "queue").read_text().splitlines() if (home / "queue").exists() else []
lines = [l for l in queue if l and (l.split("|")[0] in asked or l.split("|")[0].split("_")[0] in asked)]
if not lines:
    sys.exit("slurm_load_jobs error: Invalid job id specified")
print("\\n".join(lines))
'''

SACCT = '''
import sys
from pathlib import Path
home = Path(__file__).resolve().parent.parent
args = sys.argv[1:]
with open(home / "sacct_calls", "a") as f:
    f.write(" ".join(args) + "\\n")
jobs = [a.split("=", 1)[1] for a in args if a.startswith("--jobs=")]
if sorted(a for a in args if not a.startswith("--jobs=")) != ["--allocations", "--format=JobID,State",
                                                                  "--noheader", "--parsable2"] or not jobs:
    sys.exit(f"fake sacct: unexpected options {args}")
asked = set(jobs[0].split(","))
known = (home / "accounting").read_text().splitlines() if (home / "accounting").exists() else []
print("\\n".join(l for l in known if l.split("|")[0] in asked))
'''

SRUN = '''
import os, sys
args = sys.argv[1:]
while args and args[0].startswith("--"):
    if args.pop(0) in ("--output", "--error"):
        args.pop(0)
os.execvp(args[0], args)
'''


class FakeSlurm:
    """The fake commands in ``<home>/bin`` and the files they read and write in ``<home>``."""

    def __init__(self, home: Path):
        self.home = home
        self.bin = home / "bin"
        self.bin.mkdir(parents=True)
        for name, code in (("sbatch", SBATCH), ("squeue", SQUEUE), ("sacct", SACCT), ("srun", SRUN)):
            path = self.bin / name
            path.write_text(f"#!{sys.executable}\n{code}")
            path.chmod(0o755)

    def path(self) -> str:
        """A PATH with the fakes first."""
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"

    def set_queue(self, *lines: str) -> None:
        """What squeue shows: ``4100_0|PENDING|(Priority)``, ``4100_1|RUNNING|node1``."""
        (self.home / "queue").write_text("".join(f"{line}\n" for line in lines))

    def set_accounting(self, *lines: str) -> None:
        """What sacct knows of ended jobs: ``4100_2|CANCELLED by 0``."""
        (self.home / "accounting").write_text("".join(f"{line}\n" for line in lines))

    def refuse(self, error: str) -> None:
        """sbatch refuses every submission from now on, with ``error``."""
        (self.home / "refuse").write_text(error)

    def calls(self, command: str) -> list[str]:
        path = self.home / f"{command}_calls"
        return path.read_text().splitlines() if path.exists() else []

    def script(self, job: int) -> str:
        return (self.home / f"sbatch_{job}.sh").read_text()

    def run_task(self, job: int, task: int, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
        """Play the node: run the script of array ``job`` as its task ``task``, with the environment SLURM gives
        it (and the fakes on PATH, for its srun line)."""
        slurm = {"SLURM_JOB_ID": str(job + 1000 + task), "SLURM_ARRAY_JOB_ID": str(job),
                 "SLURM_ARRAY_TASK_ID": str(task), "SLURM_NTASKS": "1", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
                 "SLURM_NODEID": "0", "SLURM_JOB_NUM_NODES": "1", "SLURM_JOB_NODELIST": "node1"}
        return subprocess.run(["bash", str(self.home / f"sbatch_{job}.sh")], cwd=cwd, capture_output=True,
                              text=True, timeout=600, env={**env, **slurm, "PATH": self.path()})
