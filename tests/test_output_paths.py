"""Output paths: an output is never an input; an existing file is replaced only when the same command wrote it, or
with --overwrite; each kind of file carries its writer (JSON key, PNG text chunk, SavedModel marker, ONNX metadata)."""

import json

import pytest

from kerobust.atomic_files import write_json
from kerobust.cli.main import main
from kerobust.errors import KerobustError
from kerobust.figures import png_figure
from kerobust.output_paths import check_outputs, stamped, writer, writing_as, written_by


def test_each_kind_of_file_names_the_command_that_wrote_it(tmp_path):
    with writing_as("eval"):
        write_json(tmp_path / "a.json", stamped({"x": 1}))
        with png_figure(tmp_path / "a.png") as (_, axes):
            axes.plot([0, 1])
    assert writer() == "kerobust"  # outside a command
    assert written_by(str(tmp_path / "a.json")) == "kerobust eval"
    assert written_by(str(tmp_path / "a.png")) == "kerobust eval"
    (tmp_path / "b.json").write_text('{"x": 1}')
    (tmp_path / "c.json").write_text("[1, 2]")
    (tmp_path / "d.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "e.onnx").write_bytes(b"not onnx")
    for name in ("b.json", "c.json", "d.png", "e.onnx", "missing"):
        assert written_by(str(tmp_path / name)) is None


def test_refusals_and_what_may_be_replaced(tmp_path):
    model = tmp_path / "m.keras"
    model.write_bytes(b"weights")
    (tmp_path / "link.json").symlink_to(model)
    with writing_as("certify"):
        mine = tmp_path / "mine.json"
        write_json(mine, stamped({}))
        check_outputs({"--json": str(mine)}, {"--model": str(model)})  # its own earlier output
        check_outputs({"--json": str(tmp_path / "new.json")}, {"--model": str(model)})
        for outputs, overwrite, message in (
            ({"--json": str(model)}, True, "is the command's --model input"),
            ({"--json": str(tmp_path / "link.json")}, True, "is the command's --model input"),  # the same file
            ({"--json": str(tmp_path / "m.keras")}, False, "is the command's --model input"),
            ({"--json": str(tmp_path)}, True, "it is a folder"),
            ({"--json": str(mine), "--plot": str(mine)}, False, "are the same path"),
        ):
            with pytest.raises(KerobustError, match=message):
                check_outputs(outputs, {"--model": [str(model)]}, overwrite)
        foreign = tmp_path / "foreign.json"
        foreign.write_text("{}")
        with pytest.raises(KerobustError, match="was not written by kerobust; pass --overwrite"):
            check_outputs({"--json": str(foreign)})
        check_outputs({"--json": str(foreign)}, overwrite=True)
    with writing_as("eval"), pytest.raises(KerobustError, match="was written by kerobust certify"):
        check_outputs({"--json": str(mine)})


def test_eval_replaces_its_own_json_and_a_foreign_one_only_with_overwrite(natural_digits_net, tmp_path, capsys):
    model = tmp_path / "net.keras"
    natural_digits_net.save(model)
    out = tmp_path / "eval.json"
    argv = ["eval", "--model", str(model), "--data", "digits", "--points", "16", "--diagnostics-points", "0",
            "--attacks", "fgsm", "--json", str(out)]
    assert main(argv) == 0
    assert json.loads(out.read_text())["written_by"] == "kerobust eval"
    assert main(argv) == 0  # its own output: replaced
    out.write_text('{"mine": true}')
    assert main(argv) == 2
    assert "pass --overwrite" in capsys.readouterr().err and json.loads(out.read_text()) == {"mine": True}
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads(out.read_text())["written_by"] == "kerobust eval"
