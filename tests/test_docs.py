"""Every shell command in README.md and docs/*.md is checked, so the documentation cannot drift from the code.

Commands are the lines of fenced ``bash`` blocks (``\\`` continues a line) and the ``$ `` lines of ``console`` and
``text`` blocks. A trailing comment may say what to expect:

* ``se-variants train ...``, ``se-variants ablate ...`` and ``python -m se_variants.train ...`` run in this process
  with ``--dry-run`` appended (every job planned and checked, nothing trained), in a temporary folder;
* ``se-variants list ...`` and ``se-variants show ...`` run in this process;
* they must exit 0, or the code a ``# exits N`` comment names; the output shown under a ``$`` line (up to a
  ``...``) must be what the command prints;
* every other command (pip, pytest, scripts, ``report``, ``inspect``, GPU or SLURM runs) must say how it is
  checked: ``# run by hand``, or ``# tested by tests/<file>.py`` naming a test file that exists.

Files the docs show with a ``# file: <path>`` comment among a block's first comment lines (an experiment YAML, a
module of your own ops) are written into that folder first, so that commands using them run as documented;
``PYTHONPATH=.`` before a command puts the folder on ``sys.path``. Ops the commands register are unregistered
afterwards. Also checked: README.md's length, that the paths and links it names exist (and those of docs/), that
its map of the code names real files, and that its test command is the one ``.ci/run`` runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from se_variants import COMPOSE, EXCITE, GATE, PRESET, SQUEEZE

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_README_LINES = 250
#: the commands run in this process: se-variants subcommand → run with --dry-run appended
IN_PROCESS = {"train": True, "ablate": True, "list": False, "show": False}
#: how a command says it is checked elsewhere
HAND = re.compile(r"\brun by hand\b")
TESTED_BY = re.compile(r"\btested by (tests/\S+?\.py)\b")
EXITS = re.compile(r"\bexits (\d+)\b")
ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")

pytestmark = pytest.mark.usefixtures("single_thread")


# ------------------------------------------------------------------------------------------------- parsing


@dataclass
class Block:
    doc: Path
    line: int  # of the first line inside the fence
    lang: str
    lines: list[str]


@dataclass
class Command:
    text: str  # the command, without its comment
    comment: str
    where: str  # doc:line
    shown: list[str] = field(default_factory=list)  # output lines shown under a `$` line

    @property
    def expected(self) -> int:
        m = EXITS.search(self.comment)
        return int(m.group(1)) if m else 0

    def split(self) -> tuple[list[tuple[str, str]], list[str]]:
        """(leading VAR=value assignments, argv)."""
        words = shlex.split(self.text)
        env = []
        while words and ENV.match(words[0]) and len(words) > 1:
            name, _, value = words.pop(0).partition("=")
            env.append((name, value))
        return env, words

    def cli_args(self) -> list[str] | None:
        """The arguments of ``se_variants.cli.main`` when the command runs in this process, else None."""
        _, argv = self.split()
        if argv[:3] in (["python", "-m", "se_variants.train"], ["python3", "-m", "se_variants.train"]):
            argv = ["se-variants", "train", *argv[3:]]
        if len(argv) < 2 or argv[0] != "se-variants" or argv[1] not in IN_PROCESS:
            return None
        args = argv[1:]
        if IN_PROCESS[args[0]]:
            args = [a for a in args if a != "--dry-run"] + ["--dry-run"]
        return args

    def marked(self) -> bool:
        return bool(HAND.search(self.comment) or TESTED_BY.search(self.comment))


def blocks(doc: Path) -> list[Block]:
    """The fenced blocks of a markdown file."""
    out: list[Block] = []
    current: Block | None = None
    for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if current is None and stripped.startswith("```"):
            current = Block(doc, number + 1, stripped[3:].strip().lower(), [])
        elif current is not None and stripped == "```":
            out.append(current)
            current = None
        elif current is not None:
            current.lines.append(line)
    assert current is None, f"{doc.name}: a fenced block opened at line {current.line - 1} is never closed"
    return out


def split_comment(line: str) -> tuple[str, str]:
    """(command, comment): the comment starts at the first ``#`` after a space, outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip(), line[i + 1:].strip()
    return line.strip(), ""


def commands_of(block: Block) -> Iterator[Command]:
    where = f"{block.doc.relative_to(ROOT)}:{{}}"
    if block.lang in ("bash", "sh", "shell"):
        pending, start = "", 0
        for offset, line in enumerate(block.lines):
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            start = start if pending else offset
            body = line.rstrip()
            if body.endswith("\\"):
                pending += body[:-1].strip() + " "
                continue
            text, comment = split_comment(pending + line.strip())
            pending = ""
            yield Command(text, comment, where.format(block.line + start))
    elif block.lang in ("console", "text"):
        command = None
        for offset, line in enumerate(block.lines):
            if line.startswith("$ "):
                if command is not None:
                    yield command
                text, comment = split_comment(line[2:])
                command = Command(text, comment, where.format(block.line + offset))
            elif command is not None:
                command.shown.append(line)
        if command is not None:
            yield command


def all_commands() -> list[Command]:
    seen: dict[tuple[str, int], Command] = {}
    for doc in DOCS:
        for block in blocks(doc):
            for command in commands_of(block):
                args = command.cli_args()  # the same call once (`... --dry-run` and `...`, python -m and se-variants)
                key = (" ".join(args) if args and not command.marked() else command.text, command.expected)
                if key not in seen or (command.shown and not seen[key].shown):
                    seen[key] = command
    return list(seen.values())


def documented_files() -> dict[str, str]:
    """``path → text`` of the blocks marked ``# file: <path>`` among their first comment lines."""
    files: dict[str, str] = {}
    for doc in DOCS:
        for block in blocks(doc):
            for line in block.lines:
                if not line.startswith("#"):
                    break
                m = re.match(r"#\s*file:\s*(\S+)", line)
                if m:
                    path = Path(m.group(1))
                    assert not path.is_absolute() and ".." not in path.parts, f"{doc.name}: {path} leaves the folder"
                    files[str(path)] = "\n".join(block.lines) + "\n"
                    break
    return files


COMMANDS = all_commands()
RUNNABLE = [c for c in COMMANDS if c.cli_args() is not None and not c.marked()]
OTHERS = [c for c in COMMANDS if c not in RUNNABLE]


# ------------------------------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder with the documented files, where the commands run (dry runs write nothing)."""
    folder = tmp_path_factory.mktemp("docs")
    for rel, text in documented_files().items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")
    return folder


def _registries() -> list:
    import se_variants.runner.validate  # noqa: F401  (fills the runner's registries with their own entries)
    from se_variants.runner.registries import DATA, MODEL, OPTIM, SCHEDULE

    return [SQUEEZE, EXCITE, GATE, COMPOSE, PRESET, DATA, MODEL, OPTIM, SCHEDULE]


@contextlib.contextmanager
def isolated(folder: Path) -> Iterator[None]:
    """Undo what a command's ``imports=[...]`` did: the ops it registered, the config nodes the planner stored for
    them, and the modules imported from ``folder``."""
    from hydra.core.config_store import ConfigStore

    groups = {id(SQUEEZE): "squeeze", id(EXCITE): "excite", id(GATE): "gate", id(PRESET): "block"}
    names = [(r, set(r.names())) for r in _registries()]
    before = set(sys.modules)  # (a module from the folder is imported by the command: a new one)
    try:
        yield
    finally:
        repo = ConfigStore.instance().repo
        for registry, known in names:
            for name in set(registry.names()) - known:
                registry.unregister(name)
                repo.get(groups.get(id(registry)), {}).pop(f"{name}.yaml", None)
        for name in set(sys.modules) - before:
            where = getattr(sys.modules[name], "__file__", None)
            if where and Path(where).resolve().is_relative_to(folder.resolve()):
                del sys.modules[name]


def _shown_lines(command: Command) -> list[str]:
    """The output lines a doc shows under a command, each cut at a ``...`` (what follows is left out)."""
    out = []
    for line in command.shown:
        text = line.split("...", 1)[0].rstrip()
        if text:
            out.append(text)
    return out


def _plans_a_sweep(c: Command) -> bool:
    """An ablation or a -m sweep: planning every job and checking its model takes a second or more (slow tier)."""
    args = c.cli_args() or []
    return bool(args) and (args[0] == "ablate" or "-m" in args)


@pytest.mark.parametrize("command", [pytest.param(c, marks=pytest.mark.slow) if _plans_a_sweep(c) else c
                                     for c in RUNNABLE], ids=[c.text for c in RUNNABLE])
def test_documented_command_runs(command: Command, workdir: Path, monkeypatch, capsys):
    """The command exits as the docs say, and prints what they show."""
    from se_variants.cli import main

    env, _ = command.split()
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("COLUMNS", raising=False)  # output as into a file, whatever the terminal (xdist's workers: 80)
    for name, value in env:
        monkeypatch.setenv(name, value)
        if name == "PYTHONPATH":
            for entry in reversed(value.split(os.pathsep)):
                monkeypatch.syspath_prepend(str((workdir / entry).resolve()))
    with isolated(workdir):
        code = main(command.cli_args())
    out, err = capsys.readouterr()
    printed = out + err
    assert code == command.expected, (f"{command.where}: `{command.text}` exited {code}, the docs say "
                                      f"{command.expected}.\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}")
    for line in _shown_lines(command):
        assert line.strip() in printed, (f"{command.where}: `{command.text}` no longer prints the line the docs "
                                         f"show:\n  {line.strip()}\n--- it printed\n{printed[-3000:]}")


@pytest.mark.parametrize("command", OTHERS, ids=[c.text for c in OTHERS])
def test_other_commands_say_how_they_are_checked(command: Command):
    """A command not run here says so: ``# run by hand`` or ``# tested by tests/<file>.py`` (an existing file)."""
    assert command.marked(), (f"{command.where}: `{command.text}` is not run by tests/test_docs.py (only dry runs of "
                              f"se-variants train / ablate and list / show are); end it with `# run by hand` or "
                              f"`# tested by tests/<file>.py`.")
    tested = TESTED_BY.search(command.comment)
    if tested:
        assert (ROOT / tested.group(1)).is_file(), f"{command.where}: {tested.group(1)} does not exist"


def test_the_readmes_sweeps_include_their_baseline(tmp_path, monkeypatch):
    """A ``train -m`` sweep the README shows has ``block=none`` among its jobs, so that its report has Δ and p."""
    from se_variants.runner.args import parse_args
    from se_variants.runner.identity import is_baseline
    from se_variants.runner.plan import make_plan

    monkeypatch.chdir(tmp_path)
    sweeps = [c for c in RUNNABLE if c.where.startswith("README") and c.cli_args()[:2] == ["train", "-m"]
              and "hydra/sweeper=optuna" not in c.text]
    assert sweeps
    for command in sweeps:
        plan = make_plan(parse_args([a for a in command.cli_args()[1:] if a != "--dry-run"]))
        assert any(is_baseline(job.config) for job in plan.jobs), f"{command.where}: `{command.text}` has no baseline"


def test_the_docs_have_commands_of_every_kind():
    """The extraction works: the main job, a sweep, show and an error example are among the checked commands."""
    texts = [c.text for c in RUNNABLE]
    assert "se-variants ablate" in texts
    assert any(t.startswith("se-variants train -m") for t in texts)
    assert any(t.startswith("se-variants show") for t in texts)
    assert any(c.expected == 2 for c in RUNNABLE)


# ------------------------------------------------------------------------------------------------- the README


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def test_readme_is_short():
    lines = len(_readme().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move details to docs/ (at most {MAX_README_LINES})"


#: a repository path in prose: docs/..., configs/..., scripts/..., se_variants/..., tests/...
REPO_PATH = re.compile(r"(?<![\w./-])((?:docs|configs|scripts|se_variants|tests)/[\w./-]*)")
#: a markdown link target
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lstrip("#").strip().lower()
    return "".join(ch for ch in text if ch.isalnum() or ch in " -_").replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    in_block, out = False, set()
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("```"):
            in_block = not in_block
        elif not in_block and line.startswith("#"):
            out.add(_slug(line))
    return out


def test_readme_paths_exist():
    text = _readme()
    missing = sorted({p for p in REPO_PATH.findall(text) if not (ROOT / p.rstrip(".,:;")).exists()})
    assert not missing, f"README.md names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_relative_links_and_anchors_exist(doc: Path):
    problems = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            problems.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            problems.append(f"{target}: no heading with that anchor in {file.name}")
    assert not problems, f"{doc.name}: broken links: {problems}"


def _ci_command() -> str:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    commands = [line for line in lines if line and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert len(commands) == 1, f".ci/run should run one command line, found {commands}"
    return commands[0]


def test_readme_test_command_is_what_ci_runs():
    text = _readme()
    quick_start = text[text.index("## Quick start"):text.index("\n## ", text.index("## Quick start") + 1)]
    lines = [split_comment(line)[0] for line in quick_start.splitlines()]
    assert _ci_command() in lines, "README's quick start must show the command .ci/run runs, byte for byte"


#: a file or folder named in a description of the map: x.py, x.md, x.yaml, x.toml, or a folder x/ (or x/y/)
MAP_TOKEN = re.compile(r"(?<![\w./-])([\w-]+(?:/[\w.-]+)*\.(?:py|md|yaml|toml)|[\w-]+/(?:[\w-]+/)*)(?![\w.-])")
#: map lines indented this far continue the description of the entry above
DESCRIPTION_COLUMN = 20


def _map() -> tuple[set[Path], list[str]]:
    """(every path README's map names -- its entries and the files and folders their descriptions name --,
    the names that do not exist where the map puts them)."""
    heading = _readme().splitlines().index("## The map of the code") + 1
    block = next(b for b in blocks(README) if b.line > heading)
    stack: list[tuple[int, Path]] = []
    base = ROOT
    named: set[Path] = set()
    missing = []
    for line in block.lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent >= DESCRIPTION_COLUMN:
            description = line.strip()
        else:
            name, _, description = line.strip().partition(" ")
            while stack and stack[-1][0] >= indent:
                stack.pop()
            parent = stack[-1][1] if stack else ROOT
            path = parent / name.rstrip("/")
            named.add(path)
            if not path.exists():
                missing.append(str(path.relative_to(ROOT)))
            if name.endswith("/"):
                stack.append((indent, path))
                base = path
            else:
                base = parent
        for token in MAP_TOKEN.findall(description):
            found = [p for p in (base / token, ROOT / token) if p.exists()]
            named.update(p.resolve() if p.is_symlink() else p for p in found)
            if not found:
                missing.append(f"{token} (in the description of {base.relative_to(ROOT) or '.'})")
    return named, missing


def test_the_map_of_the_code_names_real_paths():
    """Each entry of README's map exists where its indentation puts it, and so does each file or folder its
    description names (relative to the entry's folder, or to the repository)."""
    _, missing = _map()
    assert not missing, f"README's map of the code names what does not exist: {missing}"


def _runner_rooms() -> list[Path]:
    """The runner's modules and packages, and the config groups (``configs/<group>/``, ``configs/hydra/<group>/``)."""
    runner = ROOT / "se_variants" / "runner"
    rooms = [p for p in runner.iterdir() if (p.suffix == ".py" and p.name != "__init__.py")
             or (p.is_dir() and (p / "__init__.py").is_file())]
    groups = [p for p in (ROOT / "configs").iterdir() if p.is_dir() and p.name != "hydra"]
    groups += [p for p in (ROOT / "configs" / "hydra").iterdir() if p.is_dir()]
    return sorted(rooms) + sorted(groups)


def test_the_maps_name_every_runner_module_and_config_group():
    """A module of the runner or a config group that README's map (or the runner package's own map, its
    docstring) does not name is a room a reader cannot find: both maps must be complete, not only real."""
    named, _ = _map()
    off_readme = [str(p.relative_to(ROOT)) for p in _runner_rooms() if p not in named]
    assert not off_readme, f"README's map of the code does not name: {off_readme}"
    import se_variants.runner as runner

    doc = runner.__doc__ or ""
    modules = [p for p in _runner_rooms() if "se_variants" in p.parts]
    off_package = [p.name for p in modules if not re.search(rf"(?<![\w.]){re.escape(p.name)}", doc)]
    assert not off_package, f"se_variants/runner/__init__.py's map does not name: {off_package}"
