"""README.md runs as written on a fresh clone (issue 14.8).

Every ```python block is executed, in order, in one fresh interpreter started
in the repository root (as a newcomer would paste them); every ```toml block
must be a valid `sus2c fit` configuration; every `sus2c ...` command in a
```bash block or in the command table must parse with the real argument
parser; paths the README names inside the repository must exist, and no
link may point outside it.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sus2c.cli import build_parser
from sus2c.config import load_config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _blocks(lang):
    text = README.read_text(encoding="utf-8")
    return [m.group(2) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M) if m.group(1) == lang]


def test_readme_python_blocks_run_from_a_fresh_checkout():
    blocks = _blocks("python")
    assert blocks, "README.md has no python block"
    code = "\n\n".join(blocks)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"), MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"README python blocks failed:\n{run.stderr[-3000:]}"
    assert "Warning" not in run.stderr, run.stderr[-2000:]


def test_readme_toml_blocks_are_valid_configurations(tmp_path):
    blocks = _blocks("toml")
    assert blocks
    for k, block in enumerate(blocks):
        path = tmp_path / f"fit{k}.toml"
        path.write_text(block)
        cfg = load_config(path)  # unknown keys or bad values raise
        assert cfg.train


def _commands():
    """Every `sus2c ...` command the README shows: bash blocks and the command table."""
    cmds = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("sus2c"):
                    cmds.append(part)
    text = README.read_text(encoding="utf-8")
    for row in re.findall(r"^\| `(sus2c [^`]*)` \|", text, re.M):
        cmds.append(row)
    return cmds


def _tokens(cmd, parser):
    """A table entry as arguments: optional parts kept, the first of alternatives a|b taken,
    and a placeholder (T, N, FS) of a numeric option replaced by 1."""
    cmd = cmd.replace("\\|", "|").replace("[", " ").replace("]", " ")
    tokens = [tok.split("|")[0] for tok in shlex.split(cmd)[1:]]
    sub = next(a for a in parser._actions if a.dest == "command").choices[tokens[0]]
    for k in range(1, len(tokens)):
        action = sub._option_string_actions.get(tokens[k - 1])
        if action is not None and action.type in (int, float) and re.fullmatch(r"[A-Z_]+", tokens[k]):
            tokens[k] = "1"
    return tokens


def test_readme_commands_parse():
    cmds = _commands()
    seen = {c.split()[1] for c in cmds}
    parser = build_parser()
    # the table lists every sub-command
    sub = next(a for a in parser._actions if a.dest == "command")
    assert seen >= set(sub.choices), set(sub.choices) - seen
    for cmd in cmds:
        tokens = _tokens(cmd, parser)
        try:
            parser.parse_args(tokens)
        except SystemExit:
            pytest.fail(f"README command does not parse: {cmd!r} -> {tokens}")


def test_readme_shell_snippets_match_the_project():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras_seen = 0
    for block in _blocks("bash"):
        for extra in re.findall(r'pip install (?:-e )?"\.\[(\w+)\]"', block):
            assert extra in project["optional-dependencies"], extra
            extras_seen += 1
    assert extras_seen, "the README's test command installs no extras"
    # CI runs exactly the README's test command (.ci/ is in a clone, not in the sdist)
    ci = ROOT / ".ci" / "run"
    if ci.exists():
        test_cmd = next(line for b in _blocks("bash") for line in b.splitlines() if "pytest" in line)
        assert test_cmd.strip() in ci.read_text(), (test_cmd, "not in .ci/run")
    assert "sus2c" in project["scripts"]


def test_readme_paths_exist_and_links_stay_inside():
    text = README.read_text(encoding="utf-8")
    for path in re.findall(r"`((?:sus2c|examples|analysis|tests)/[^` ]*)`", text):
        assert (ROOT / path).exists(), f"README names {path}, which is not in the repository"
    for target in re.findall(r"\]\(([^)]+)\)", text):
        if re.match(r"https?://", target):
            continue
        assert not target.startswith(("/", "..")), f"README links outside the repository: {target}"
        assert (ROOT / target).exists(), f"README links to {target}, which is not in the repository"
