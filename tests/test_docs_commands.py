"""Every command in README.md and docs/*.md runs on tiny data, so the documentation cannot rot.

How it works:

- Commands are the lines of fenced code blocks that start (after `VAR=value` assignments) with
  `cilab`, `.venv/bin/cilab`, `python -m cilab`, `python benchmarks/<script>.py`, `torchrun` or
  `make`; a trailing backslash continues a line, `# ...` is a comment, `[--flag VALUE]` is an
  optional part and is run with it. Any other fenced line that mentions `cilab` as a word fails,
  so a new way of writing a command cannot slip past.
- The commands of one page run in document order in one temporary folder (the working
  directory), so `runs/vae` written by `gen train` is what the next line's `gen eval` reads.
  Placeholders (`DIR`, `DATA`, `PRED_DIR`, ...) and a few machine paths are replaced by folders
  of tiny data that this test made, `$CILAB_DATA` points at them, and `VAR=value` prefixes are
  set for their command only.
- `TINY` maps each subcommand to flags appended to the documented ones. argparse keeps an
  option's last value, so these shrink epochs, folds, images and workers while every documented
  flag is still parsed and used. A command whose subcommand has no entry fails the test, with the
  line to add.
- Commands are run in-process with `cilab.cli.main.main` (benchmark scripts with their `main`)
  and must exit 0. `NOT_RUN` lists the few that cannot be run cheaply, each with its reason;
  those are parsed without running (torchrun's own flags and cilab's), and `make` targets are
  looked up in the Makefile.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import os
import re
import shlex
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from cilab.cli.main import AREAS, build_parser, main
from cilab.cosmo.simulate import SimulateConfig, simulate
from conftest import write_fake_mnist
from roads.conftest import write_roads

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# Flags appended to a documented command, by subcommand path. A key may add qualifiers
# (`--resume`, `--model dcgan`): the key whose qualifiers all appear in the command and that has
# the most of them wins.
UNET = "--width 4 --depth 2 --scale 1 --crop 32 --batch-size 2 --val-every 1"
DCGAN = "--epochs 1 --batch-size 32 --monitor-samples 64 --checkpoint-every 1"
CV = "--folds 2 --repeats 1 --importance-repeats 1 --no-family-ablation --workers 1"
TINY: dict[str, str] = {
    "gen train": "--epochs 1 --batch-size 32 --val-size 32",
    "gen train --resume": "--epochs 2",  # one epoch more than the run it continues
    "gen train --model dcgan": DCGAN,
    "gen eval": "--samples 64 --iw-samples 8 --iw-images 16",
    "gen classifier": "--max-steps 3 --batch-size 32",
    "gen compare": "",
    "theory check": "--samples 5000",
    "report": "",
    "roads train": f"--folds 2 --limit-images 8 --epochs 1 {UNET}",
    "roads predict": "",
    "roads rescore": "",
    "roads eval": "",
    "roads submit": "",
    "cosmo simulate": "--n-labeled 36 --n-scored 24 --n-query 8 --size 64 --workers 1",
    "cosmo validate-sim": "--n-images 8 --workers 1",
    "cosmo extract": "--workers 1",
    "cosmo classify": f"{CV} --cnn-epochs 1 --cnn-batch-size 4",
    "cosmo regress": CV,
    "benchmarks/bench_cosmo.py": "--images 8 --workers 1 --repeats 1",
}

# Documented commands that are only parsed, never run, and why.
NOT_RUN: dict[str, str] = {
    "torchrun": "starts one Python process per rank (two torch imports, both cores busy); the "
    "multi-process path is run by tests/gen/test_distributed.py",
    "demo": "minutes even at --quick; tests/test_demo.py runs it at a tiny scale",
    "make": "installs a virtual environment (demo) or runs the whole suite (test); only the "
    "Makefile targets are checked",
}

SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "&", "2>", "2>&1"}
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
PYTHON = re.compile(r"^(\.venv/bin/)?python3?$")
PROGRAMS = {"cilab", ".venv/bin/cilab", "torchrun", "make"}
PROGRAM = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*(\S+)")  # after VAR=value prefixes
# `cilab <area>` or `-m cilab` anywhere on a line: someone meant to run it.
MENTIONS_CILAB = re.compile(rf"((^|\s)(\S*/)?cilab\s+({'|'.join(AREAS)})(\s|$))|-m\s+cilab\b")


@dataclass
class Command:
    page: str
    line: int
    text: str  # as documented, continuation lines joined
    env: dict[str, str] = field(default_factory=dict)
    kind: str = "cilab"  # cilab | script | torchrun | make
    argv: list[str] = field(default_factory=list)  # after the program (cilab's argv, ...)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}: `{self.text}`"


# -- reading the pages ----------------------------------------------------------------------------
def fenced_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, logical line) of every fenced code block, backslash continuations joined."""
    fence: str | None = None
    pending, start = "", 0
    for no, raw in enumerate(path.read_text().splitlines(), start=1):
        stripped = raw.strip()
        marker = re.match(r"^(`{3,}|~{3,})", stripped)
        if marker and (fence is None or stripped.startswith(fence)):
            fence = marker.group(1) if fence is None else None
            continue
        if fence is None:
            continue
        if not pending:
            start = no
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        yield start, pending + stripped
        pending = ""


def parse_command(page: str, no: int, line: str) -> Command | None:
    """The command on a fenced line, or None when the line is no command of ours."""
    text = re.sub(r"^\$\s+", "", line)
    program = PROGRAM.match(text)
    if program is None or not (program.group(1) in PROGRAMS or PYTHON.match(program.group(1))):
        if MENTIONS_CILAB.search(text):
            raise AssertionError(
                f"{page}:{no}: `{line}` runs cilab in a way this test does not know; write it "
                "as `cilab ...` (or teach tests/test_docs_commands.py the new form)"
            )
        return None
    if "[" in text:
        groups = re.findall(r"\[([^\[\]]*)\]", text)
        if any("|" in g for g in groups):
            raise AssertionError(f"{page}:{no}: alternatives [a | b] cannot be run; write one")
        text = re.sub(r"\[([^\[\]]*)\]", r"\1", text)
    try:
        tokens = shlex.split(text, comments=True)
    except ValueError as e:
        raise AssertionError(f"{page}:{no}: cannot split `{line}` like a shell ({e})") from None
    env = {}
    while tokens and ENV_ASSIGNMENT.match(tokens[0]):
        name, value = tokens.pop(0).split("=", 1)
        env[name] = value
    shown = line.split(" #")[0].strip()
    cmd = Command(page, no, shown, env)
    if not tokens:
        return None
    head = tokens[0]
    if head in ("cilab", ".venv/bin/cilab"):
        cmd.argv = tokens[1:]
    elif PYTHON.match(head) and tokens[1:3] == ["-m", "cilab"]:
        cmd.argv = tokens[3:]
    elif PYTHON.match(head) and len(tokens) > 1 and tokens[1].startswith("benchmarks/"):
        cmd.kind, cmd.argv = "script", tokens[1:]
    elif head == "torchrun":
        cmd.kind, cmd.argv = "torchrun", tokens[1:]
    elif head == "make":
        cmd.kind, cmd.argv = "make", tokens[1:]
    elif MENTIONS_CILAB.search(text):
        raise AssertionError(f"{cmd.where}: a form of running cilab this test does not know")
    else:
        return None  # e.g. `python -c ...`: not a documented cilab command
    bad = [t for t in tokens if t in SHELL_OPERATORS or "$(" in t or "`" in t]
    if bad:
        raise AssertionError(f"{cmd.where}: shell syntax {bad}; write one plain command per line")
    return cmd


def page_commands(path: Path) -> list[Command]:
    name = str(path.relative_to(REPO))
    found = (parse_command(name, no, line) for no, line in fenced_lines(path))
    return [c for c in found if c is not None]


# -- which tiny flags --------------------------------------------------------------------------
@functools.cache
def cilab_parser() -> argparse.ArgumentParser:
    return build_parser()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subs[0].choices) if subs else {}


def subcommand_path(argv: list[str]) -> tuple[str, ...]:
    """The leading words of `argv` that name (sub)commands of the cilab parser."""
    parser, path = cilab_parser(), []
    for word in argv:
        if word not in _subcommands(parser):
            break
        path.append(word)
        parser = _subcommands(parser)[word]
    return tuple(path)


def is_complete(path: tuple[str, ...]) -> bool:
    """Whether `path` reaches a command that runs (not an area that needs a subcommand)."""
    parser = cilab_parser()
    for word in path:
        parser = _subcommands(parser)[word]
    return not _subcommands(parser)


def unknown_flags(argv: list[str]) -> list[str]:
    """`--flags` of a cilab command line that its (sub)command does not define exactly.

    argparse would accept an abbreviation (`--iw-sample`) and run it; documentation should not.
    """
    parser = cilab_parser()
    for word in subcommand_path(argv):
        parser = _subcommands(parser)[word]
    known = {o for a in parser._actions for o in a.option_strings}
    return [w.split("=")[0] for w in argv if w.startswith("--") and w.split("=")[0] not in known]


def _has(argv: list[str], qualifier: list[str]) -> bool:
    flag, value = qualifier[0], qualifier[1:]
    for i, tok in enumerate(argv):
        if tok == flag and (not value or argv[i + 1 : i + 2] == value):
            return True
        if value and tok == f"{flag}={value[0]}":
            return True
    return False


def tiny_flags(cmd: Command) -> list[str]:
    """The TINY entry of a command: its subcommand path, plus the most qualifiers it matches."""
    path = (cmd.argv[0],) if cmd.kind == "script" else subcommand_path(cmd.argv)
    if cmd.kind == "cilab" and not is_complete(path):
        raise AssertionError(f"{cmd.where}: not a cilab command (see cilab --help)")
    best: tuple[int, str] | None = None
    for key in TINY:
        words = key.split()
        n = next((i for i, w in enumerate(words) if w.startswith("--")), len(words))
        if tuple(words[:n]) != path:
            continue
        qualifiers = [q.split() for q in re.findall(r"--\S+(?: [^-\s]\S*)?", " ".join(words[n:]))]
        if all(_has(cmd.argv, q) for q in qualifiers):
            if best is not None and best[0] == len(qualifiers):
                raise AssertionError(f"{cmd.where}: TINY keys {best[1]!r} and {key!r} both fit")
            if best is None or len(qualifiers) > best[0]:
                best = (len(qualifiers), key)
    if best is None:
        raise AssertionError(
            f"{cmd.where}: no tiny-scale flags for `{' '.join(path)}`. Add an entry "
            f'{" ".join(path)!r}: "--flags ..." to TINY in tests/test_docs_commands.py (flags '
            "that make it run in about a second on the tiny data), or to NOT_RUN with a reason"
        )
    return TINY[best[1]].split()


# -- tiny data -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A $CILAB_DATA: fake MNIST and Fashion-MNIST, synthetic roads, a simulated cosmology set."""
    root = tmp_path_factory.mktemp("docs") / "data"
    for name in ("mnist", "fashion-mnist"):
        write_fake_mnist(root / name, n_train=160, n_test=64)
    write_roads(root / "roads", n_train=8, n_test=2, size=48)
    simulate(SimulateConfig(out=str(root / "cosmology"), n_labeled=36, n_scored=24, n_query=8,
                            size=64, workers=1, seed=1))  # fmt: skip
    return root


def placeholders(data: Path, cwd: Path) -> dict[str, str]:
    """Documented stand-ins -> the folders they mean here."""
    pred = cwd / "pred_dir"  # predicted masks with ground truth: a copy of the truth
    shutil.copytree(data / "roads/training/groundtruth", pred)
    return {
        "DIR": str(data / "roads"),  # roads.md: the road data folder
        "DATA": str(data),  # data.md: a data root
        "PRED_DIR": str(pred),  # roads.md: any predicted masks with ground truth
        "N": "1",  # theory.md's synopsis: [--seed N] [--samples N]
        "/tmp/cosmo_full": str(cwd / "cosmo_full"),  # cosmology.md's full-size run
        "../shared/data/cosmology": str(cwd / "no-real-calibration-data"),
    }


def substitute(token: str, table: dict[str, str]) -> str:
    token = os.path.expandvars(token)
    prefix, eq, value = token.partition("=") if token.startswith("--") else ("", "", token)
    for key in sorted(table, key=len, reverse=True):
        if value == key or value.startswith(key + "/"):
            value = table[key] + value[len(key) :]
            break
    return prefix + eq + value


# -- running -----------------------------------------------------------------------------------
def run_cilab(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse errors
        return e.code if isinstance(e.code, int) else 1


def run_script(script: str, argv: list[str]) -> int:
    path = REPO / script
    spec = importlib.util.spec_from_file_location(f"docs_{path.stem}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return int(module.main(argv) or 0)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1


def check_not_run(cmd: Command) -> None:
    """Parse a command that is not run: the programs and flags it names must exist."""
    if cmd.kind == "make":
        targets = re.findall(r"^([\w.-]+):", (REPO / "Makefile").read_text(), re.M)
        missing = [t for t in cmd.argv if not t.startswith("-") and t not in targets]
        assert not missing, f"{cmd.where}: no Makefile target {missing}"
        return
    argv = cilab_argv(cmd)
    try:
        cilab_parser().parse_args(argv)
    except SystemExit:
        raise AssertionError(f"{cmd.where}: cilab cannot parse {argv}") from None


def cilab_argv(cmd: Command) -> list[str]:
    """cilab's arguments of a `cilab` or `torchrun ... -m cilab` command (torchrun's checked)."""
    if cmd.kind != "torchrun":
        return cmd.argv
    from torch.distributed.run import get_args_parser

    launcher = Path(sys.executable).with_name("torchrun")
    assert launcher.exists(), f"{cmd.where}: {launcher} missing"
    try:
        args = get_args_parser().parse_args(cmd.argv)  # torchrun's own flags
    except SystemExit:
        raise AssertionError(f"{cmd.where}: torchrun cannot parse its flags") from None
    assert args.module and args.training_script == "cilab", f"{cmd.where}: not `-m cilab`"
    return list(args.training_script_args)


def not_run_reason(cmd: Command) -> str | None:
    if cmd.kind in ("torchrun", "make"):
        return NOT_RUN[cmd.kind]
    return NOT_RUN.get(" ".join(subcommand_path(cmd.argv))) if cmd.kind == "cilab" else None


@contextlib.contextmanager
def command_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with monkeypatch.context() as m:
        for name, value in env.items():
            m.setenv(name, value)
        yield


@pytest.fixture
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _has_commands(page: Path) -> bool:
    try:
        return bool(page_commands(page))
    except AssertionError:
        return True  # test_page_commands_run reports the problem


PAGES_WITH_COMMANDS = [p for p in PAGES if _has_commands(p)]


def test_pages_have_commands() -> None:
    names = {p.name for p in PAGES_WITH_COMMANDS}
    assert {"README.md", "generative.md", "data.md", "roads.md", "cosmology.md"} <= names


def test_every_documented_command_is_covered() -> None:
    """Fails fast, before anything runs: a command that TINY and NOT_RUN do not cover.

    Also a flag that is not spelled out exactly: argparse would run an abbreviation.
    """
    for page in PAGES:
        for cmd in page_commands(page):
            if cmd.kind in ("cilab", "torchrun"):
                unknown = unknown_flags(cilab_argv(cmd))
                assert not unknown, f"{cmd.where}: {unknown} are not flags of this command"
            if not_run_reason(cmd) is None:
                tiny_flags(cmd)


@pytest.mark.parametrize("page", PAGES_WITH_COMMANDS, ids=lambda p: p.name)
def test_page_commands_run(
    page: Path,
    data_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    one_thread: None,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CILAB_DATA", str(data_root))
    monkeypatch.delenv("COSMOLOGY_DATA", raising=False)
    table = placeholders(data_root, tmp_path)
    for cmd in page_commands(page):
        env = {k: substitute(v, table) for k, v in cmd.env.items()}
        with command_env(env, monkeypatch):
            if not_run_reason(cmd) is not None:
                check_not_run(cmd)
                continue
            argv = [substitute(t, table) for t in cmd.argv] + tiny_flags(cmd)
            rc = run_script(argv[0], argv[1:]) if cmd.kind == "script" else run_cilab(argv)
        out, err = capfd.readouterr()
        tail = "\n".join((out + err).strip().splitlines()[-15:])
        assert rc == 0, f"{cmd.where} exited {rc} (run as {argv}):\n{tail}"


# -- commands and links in the prose -------------------------------------------------------------
INLINE_COMMAND = re.compile(r"`(?:[A-Z_]+=\S+ )*((?:\.venv/bin/)?cilab [^`]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_inline_commands_use_existing_flags() -> None:
    """`cilab ...` in running text (RESULTS.md's tables too) is not run; its flags must exist."""
    bad = []
    for page in PAGES:
        for no, line in enumerate(page.read_text().splitlines(), start=1):
            for match in INLINE_COMMAND.finditer(line):
                unknown = unknown_flags(match.group(1).split()[1:])
                bad += [f"{page.name}:{no}: `{match.group(1)}`: {f}" for f in unknown]
    assert not bad, "flags that the command does not have:\n" + "\n".join(bad)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors of a page: lower case, punctuation dropped, spaces to hyphens."""
    found, fence = set(), False
    for line in page.read_text().splitlines():
        if line.strip().startswith(("```", "~~~")):
            fence = not fence
        elif not fence and (m := re.match(r"^#{1,6}\s+(.*)", line)):
            found.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return found


def test_relative_links_resolve() -> None:
    bad = []
    for page in PAGES:
        for no, line in enumerate(page.read_text().splitlines(), start=1):
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target):
                    continue  # http:, https:, mailto:
                path, _, anchor = target.partition("#")
                file = page.parent / path if path else page
                if not file.exists():
                    bad.append(f"{page.name}:{no}: {target}: no such file")
                elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
                    bad.append(f"{page.name}:{no}: {target}: no heading #{anchor}")
    assert not bad, "\n".join(bad)
