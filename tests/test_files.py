"""Output files (issue 14.5): one atomic writer for models, exports, reports and plots.

A failed write names the user's path (never a temporary one), leaves no
temporary file and keeps an existing file; missing folders are created the
same way by every command; Ctrl-C ends a command with one line and exit 130.
"""
from __future__ import annotations

import json
import os

import pytest

from sus2c.cli import main
from sus2c.files import OutputError, atomic_write, save_figure
from sus2c.model import load
from sus2c.testing import random_model


@pytest.fixture
def model():
    return random_model(elements=("Mo",), two_body="specific", seed=3)


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_model_save_to_a_folder_names_it_and_leaves_nothing(tmp_path, model):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OutputError) as info:
        model.save(out)
    msg = str(info.value)
    assert f"cannot write the model file {out!s}" in msg and "is a folder" in msg
    assert ".tmp" not in msg
    assert _tree(tmp_path) == []  # was: out.tmp-PID left beside it


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, model, monkeypatch):
    path = tmp_path / "model.json"
    model.save(path)
    before = path.read_text()
    model.metadata = {"bad": object()}  # json.dump fails half-way through the file
    with pytest.raises(TypeError):
        model.save(path)
    assert path.read_text() == before
    assert _tree(tmp_path) == ["model.json"]

    # interrupted mid-write (Ctrl-C): the same
    model.metadata = {}

    def interrupted(obj, fh, **kw):
        fh.write('{"version": ')
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_text() == before
    assert _tree(tmp_path) == ["model.json"]


def test_missing_folders_are_created_and_files_replaced_whole(tmp_path, model):
    path = tmp_path / "a" / "b" / "model.json"
    model.save(path)
    assert load(path).to_dict() == model.to_dict()
    with atomic_write(tmp_path / "a" / "note.txt") as fh:
        fh.write("one")
    with atomic_write(tmp_path / "a" / "note.txt") as fh:
        fh.write("two")
    assert (tmp_path / "a" / "note.txt").read_text() == "two"
    assert _tree(tmp_path) == ["a/b/model.json", "a/note.txt"]
    # a file where a folder should be
    with pytest.raises(OutputError, match="a file is in the way of its folder"):
        model.save(tmp_path / "a" / "note.txt" / "model.json")


def test_export_lammps_creates_folders_and_names_the_path_on_failure(tmp_path, model, capsys):
    src = tmp_path / "model.json"
    model.save(src)
    out = tmp_path / "new" / "dir" / "model.uf3"
    assert main(["export", "lammps", str(src), str(out)]) == 0
    assert "#UF3 POT" in out.read_text()
    capsys.readouterr()

    folder = tmp_path / "existing"
    folder.mkdir()
    assert main(["export", "lammps", str(src), str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"cannot write the LAMMPS potential file {folder}" in err and "is a folder" in err
    assert ".tmp" not in err
    assert _tree(folder) == []


def test_fit_refuses_a_folder_as_output_before_fitting(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    cfg = tmp_path / "fit.toml"
    # the data do not even exist: the output is checked first, not after a long fit
    cfg.write_text('[data]\ntrain = "missing.xyz"\n')
    assert main(["fit", str(cfg), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"cannot write the model file {tmp_path / 'out'}" in err and "is a folder" in err
    assert _tree(tmp_path) == ["fit.toml"]


def test_figures_go_through_the_same_writer(tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "plots" / "f.svg")
    assert open(path, "rb").read(5) == b"<?xml"
    with pytest.raises(OutputError, match="is a folder"):
        save_figure(fig, tmp_path / "plots")
    assert _tree(tmp_path) == ["plots/f.svg"]


def test_ctrl_c_prints_one_line_and_exits_130(monkeypatch, capsys):
    import sus2c.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_info", interrupted)
    assert main(["info"]) == 130
    captured = capsys.readouterr()
    assert captured.out == ""
    assert [line for line in captured.err.splitlines() if line.strip()] == ["sus2c info: interrupted"]
