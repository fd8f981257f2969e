"""``augmeta describe / show / export / diff`` (``validate`` is tested in test_cli.py)."""

from __future__ import annotations

import json
import os
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import augmeta
from augmeta import load_policy
from augmeta.cli import main
from augmeta.export.preview import grid_cell, load_preview_images
from tests.policy.helpers import POLICY_DIR

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

CIFAR = str(POLICY_DIR / "autoaugment_cifar10.json")
SVHN = str(POLICY_DIR / "autoaugment_svhn.json")


@pytest.fixture(scope="module", autouse=True)
def one_intra_op_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("command", ["validate", "describe", "show", "export", "diff"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: augmeta {command}")


def test_validate_names_the_bad_field(tmp_path, capsys):
    data = json.loads((POLICY_DIR / "autoaugment_svhn.json").read_text(encoding="utf-8"))
    data["subpolicies"][3]["steps"][1]["ops"][0]["op"] = "blur"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["validate", str(path)]) == 1
    assert "`subpolicies[3].steps[1].ops[0].op` should be one of" in capsys.readouterr().err


def test_describe(capsys):
    assert main(["describe", CIFAR]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "policy 'autoaugment_cifar10': 25 sub-policies, fill [0.0], nearest"
    assert lines[4] == "  0   0.040  p=0.10 invert | p=0.20 contrast m=0.67 (±0.6)"
    assert "auto_contrast       0.2000       -   -" in lines
    assert "rotate              0.0280   0.222   ±6.67 (degrees, counter-clockwise)" in lines


class TestShow:
    def test_digits_grid_starts_with_the_inputs(self, tmp_path, capsys):
        output = tmp_path / "grid.png"
        arguments = ["show", CIFAR, "--dataset", "digits", "-n", "4", "--draws", "3", "--plain", "-o", str(output)]
        assert main(arguments) == 0
        assert capsys.readouterr().out == f"wrote {output}: 4 images x (original + 3 draws)\n"
        with Image.open(output) as image:
            assert image.mode == "L"
            grid = np.asarray(image)[..., None]
        assert grid.shape == (2 + 4 * 34, 2 + 4 * 34, 1)
        inputs = load_preview_images("digits", 4)
        for row in range(4):
            np.testing.assert_array_equal(grid_cell(grid, row, 0, 32, 32), inputs[row].permute(1, 2, 0).numpy())
        draws = [grid_cell(grid, row, col, 32, 32) for row in range(4) for col in range(1, 4)]
        assert any(not np.array_equal(d, grid_cell(grid, i // 3, 0, 32, 32)) for i, d in enumerate(draws))

    def test_the_default_is_eight_by_eight_digits(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        assert main(["show", CIFAR, "--plain"]) == 0
        with Image.open(tmp_path / "grid.png") as image:
            assert image.size == (2 + 9 * 34, 2 + 8 * 34)

    def test_the_labelled_grid_upscales_and_names_each_draws_ops(self, tmp_path):
        from augmeta.export.preview import LABEL_HEIGHT, labelled_grid

        policy = load_policy(CIFAR)
        images = load_preview_images("digits", 2)  # 32 x 32: upscaled 3x to 96
        grid = labelled_grid(policy, images, 3, torch.Generator().manual_seed(0))
        assert grid.shape == (2 + 2 * (96 + LABEL_HEIGHT + 2), 2 + 4 * (96 + 2), 3)
        original = grid[2 : 2 + 96 : 3, 2 : 2 + 96 : 3, 0]
        np.testing.assert_array_equal(original, images[0, 0].numpy())  # the original, each pixel 3x3
        labels = grid[2 + 96 : 2 + 96 + LABEL_HEIGHT]
        assert (labels < 128).any() and (labels == 255).mean() > 0.5  # dark text on white

    def test_an_imagefolder_root_gives_one_image_per_class_in_turn(self, tmp_path):
        for name, value in (("cat", 10), ("dog", 200)):
            for k in range(3):
                (tmp_path / "root" / name).mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((6, 6, 3), value + k, dtype=np.uint8)).save(
                    tmp_path / "root" / name / f"{k}.png"
                )
        images = load_preview_images(tmp_path / "root", 3)
        assert images[:, 0, 0, 0].tolist() == [10, 200, 11]

    @pytest.mark.skipif(not os.path.isdir("/usr/share/datasets/fashion-mnist"), reason="no Fashion-MNIST here")
    def test_fashion_mnist(self, tmp_path):
        output = tmp_path / "grid.png"
        arguments = [
            "show",
            SVHN,
            "--dataset",
            "fashion_mnist",
            "-n",
            "2",
            "--draws",
            "1",
            "--plain",
            "-o",
            str(output),
        ]
        assert main(arguments) == 0
        with Image.open(output) as image:
            assert image.size == (2 + 2 * 30, 2 + 2 * 30)

    def test_a_folder_of_images(self, tmp_path):
        folder = tmp_path / "images"
        folder.mkdir()
        for k in range(3):
            Image.fromarray(np.full((10, 12, 3), 40 * k, dtype=np.uint8)).save(folder / f"{k}.png")
        output = tmp_path / "grid.png"
        arguments = ["show", CIFAR, "--images", str(folder), "-n", "2", "--draws", "2", "--plain", "-o", str(output)]
        assert main(arguments) == 0
        with Image.open(output) as image:
            grid = np.asarray(image)
        assert grid.shape == (2 + 2 * 12, 2 + 3 * 14, 3)
        np.testing.assert_array_equal(grid_cell(grid, 1, 0, 10, 12), np.full((10, 12, 3), 40, dtype=np.uint8))

    def test_a_corrupt_image_fails_in_one_line_naming_it(self, tmp_path, capsys):
        folder = tmp_path / "images"
        folder.mkdir()
        Image.fromarray(np.full((10, 12, 3), 40, dtype=np.uint8)).save(folder / "0.png")
        (folder / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
        assert main(["show", CIFAR, "--images", str(folder), "-o", str(tmp_path / "g.png")]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: Cannot read image {str(folder / '1.png')!r}: ") and err.count("\n") == 1
        assert not (tmp_path / "g.png").exists()

    def test_a_missing_folder_fails_clearly(self, tmp_path, capsys):
        assert main(["show", CIFAR, "--images", str(tmp_path / "nope"), "-o", str(tmp_path / "g.png")]) == 1
        assert "is not a folder of images" in capsys.readouterr().err
        assert not (tmp_path / "g.png").exists()


class TestExport:
    def test_albumentations_json_and_yaml(self, tmp_path, capsys):
        import albumentations as A

        policy = tmp_path / "policy.json"  # AutoAugment CIFAR-10 with brightness for sharpness (refused below 1)
        policy.write_text(
            (POLICY_DIR / "autoaugment_cifar10.json").read_text(encoding="utf-8").replace("sharpness", "brightness"),
            encoding="utf-8",
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert main(["export", str(policy), "--to", "albumentations", "-o", str(tmp_path / "a.json")]) == 0
            yaml_args = ["--to", "albumentations-yaml", "--image-size", "32", "32", "-o", str(tmp_path / "a.yaml")]
            assert main(["export", str(policy), *yaml_args]) == 0
        assert len(caught) == 2  # one warning per export, listing every approximated op
        ops = sorted({op for w in caught for op in re.findall("of op '(.*?)' is approximate", str(w.message))})
        assert ops == ["auto_contrast", "equalize", "shear_y", "translate_x", "translate_y"]
        assert capsys.readouterr().out == f"wrote {tmp_path / 'a.json'}\nwrote {tmp_path / 'a.yaml'}\n"
        assert type(A.load(tmp_path / "a.json")) is A.Compose
        assert type(A.load(tmp_path / "a.yaml", data_format="yaml")) is A.Compose

    def test_strict_refuses_naming_every_op_and_the_default_approximates(self, tmp_path, capsys):
        output = tmp_path / "a.json"
        assert main(["export", CIFAR, "--to", "albumentations", "--strict", "-o", str(output)]) == 1
        err = capsys.readouterr().err
        assert re.match(
            r"error: \d+ op choices cannot be exported:\n  - `subpolicies\[2\]\.steps\[0\]\.ops\[0\]` ", err
        )
        assert "(op 'sharpness') cannot be exported to albumentations: a sharpness factor below 1 (0.9) blurs" in err
        assert not output.exists()
        with pytest.warns(UserWarning, match="becomes a 3x3 box blur applied with probability 1 - f"):
            assert main(["export", CIFAR, "--to", "albumentations", "-o", str(output)]) == 0
        assert output.is_file()

    def test_torchvision_stock_writes_python(self, tmp_path, capsys):
        output = tmp_path / "policy.py"
        assert main(["export", CIFAR, "--to", "torchvision-stock", "-o", str(output)]) == 1
        assert "pass image_size=(height, width)" in capsys.readouterr().err
        assert main(["export", CIFAR, "--to", "torchvision-stock", "--image-size", "32", "32", "-o", str(output)]) == 0
        text = output.read_text(encoding="utf-8")
        assert "import augmeta" not in text and "transform = v2.RandomChoice(transforms=[" in text
        namespace: dict = {}
        exec(compile(text, str(output), "exec"), namespace)  # noqa: S102  (our own file)
        assert len(namespace["transform"].transforms) == 25

    def test_the_suffix_must_match_the_format(self, tmp_path, capsys):
        assert main(["export", CIFAR, "--to", "albumentations-yaml", "-o", str(tmp_path / "a.json")]) == 1
        assert capsys.readouterr().err == (
            f"error: --to albumentations-yaml writes YAML: name the output .yaml, not {str(tmp_path / 'a.json')!r}.\n"
        )


class TestDiff:
    def test_same(self, tmp_path, capsys):
        copy = tmp_path / "copy.json"
        augmeta.load_policy(CIFAR).save(copy)
        assert main(["diff", CIFAR, str(copy)]) == 0
        assert capsys.readouterr().out == "the policies are the same (name, description and provenance aside)\n"

    def test_different(self, capsys):
        assert main(["diff", CIFAR, SVHN]) == 1
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "subpolicies[0].steps[0].ops[0] (invert / shear_x).magnitude: 0 in A, 0.4444 in B"
        assert all(re.match(r"^subpolicies\[\d+\]", line) for line in lines)


class TestMetaTree:
    """``validate``, ``describe`` and ``show`` read a meta_tree.json as well as a policy file."""

    @pytest.fixture
    def tree_file(self, tmp_path):
        from augmeta.meta import MetaTree

        policy = json.loads((POLICY_DIR / "autoaugment_svhn.json").read_text(encoding="utf-8"))
        tree = MetaTree.from_dict(
            {
                "schema_version": 1,
                "name": "two_leaves",
                "num_classes": 10,
                "nodes": [
                    {"kind": "split", "feature": "label", "classes": [1, 7], "left": 1, "right": 2},
                    {"kind": "leaf", "policy": 0, "samples": 40},
                    {"kind": "leaf", "policy": 0, "samples": 160},
                ],
                "policies": [policy],
                "fidelity": 0.75,
                "provenance": {"source": "test", "method": "hand-made"},
            }
        )
        return tree.save(tmp_path / "meta_tree.json")

    def test_validate_and_describe(self, tree_file, capsys):
        assert main(["validate", str(tree_file)]) == 0
        assert capsys.readouterr().out == f"ok   {tree_file}: meta-tree 'two_leaves', 3 nodes, 1 leaf policies\n"
        assert main(["describe", str(tree_file)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[:2] == ["meta-tree 'two_leaves': 3 nodes, depth 1, 10 classes, fidelity 0.750", "label in [1, 7]?"]
        assert lines[2].startswith("  yes: leaf 1: 'autoaugment_svhn': ")

    def test_a_bad_tree_names_its_field(self, tree_file, capsys):
        data = json.loads(tree_file.read_text(encoding="utf-8"))
        data["nodes"][0]["classes"] = [12]
        tree_file.write_text(json.dumps(data), encoding="utf-8")
        assert main(["validate", str(tree_file)]) == 1
        assert "`nodes[0].classes` should be labels below num_classes = 10, but got [12]" in capsys.readouterr().err

    @pytest.mark.filterwarnings("ignore:albumentations export:UserWarning")
    def test_export_writes_a_pipeline_per_leaf_and_the_routing(self, tree_file, tmp_path, capsys):
        pytest.importorskip("albumentations")
        import albumentations as A

        output = tmp_path / "tree_export.json"
        assert main(["export", str(tree_file), "--to", "albumentations", "-o", str(output), "--image-size", "32",
                     "32"]) == 0  # fmt: skip
        leaves = sorted(p.name for p in tmp_path.glob("tree_export_leaf*.json"))
        assert leaves == ["tree_export_leaf1.json", "tree_export_leaf2.json"]
        single = tmp_path / "single.json"
        assert main(["export", SVHN, "--to", "albumentations", "-o", str(single), "--image-size", "32", "32"]) == 0
        for leaf in leaves:  # each leaf is the leaf policy's own export, and albumentations reads it alone
            assert (tmp_path / leaf).read_text(encoding="utf-8") == single.read_text(encoding="utf-8")
            A.load(str(tmp_path / leaf))
        routing = json.loads(output.read_text(encoding="utf-8"))
        assert routing["needs_augmeta"] is False and routing["target"] == "albumentations"
        assert routing["nodes"] == [
            {"node": 0, "label_in": [1, 7], "yes": 1, "no": 2},
            {"node": 1, "leaf": "tree_export_leaf1.json", "policy": "autoaugment_svhn"},
            {"node": 2, "leaf": "tree_export_leaf2.json", "policy": "autoaugment_svhn"},
        ]
        assert "needs no augmeta" in routing["how_to_apply"]
        assert "routing: labels only" in capsys.readouterr().out

    def test_a_tree_on_image_features_says_that_routing_needs_augmeta(self, tmp_path, capsys):
        from augmeta.meta import MetaTree

        policy = json.loads((POLICY_DIR / "autoaugment_svhn.json").read_text(encoding="utf-8"))
        tree = MetaTree.from_dict(
            {
                "schema_version": 1, "name": "by_mean", "num_classes": 10,
                "nodes": [
                    {"kind": "split", "feature": "mean", "threshold": 0.25, "left": 1, "right": 2},
                    {"kind": "leaf", "policy": 0}, {"kind": "leaf", "policy": 0},
                ],
                "policies": [policy], "provenance": {"source": "test", "method": "hand-made"},
            }
        )  # fmt: skip
        path = tree.save(tmp_path / "meta_tree.json")
        output = tmp_path / "routing.json"
        assert (
            main(["export", str(path), "--to", "torchvision-stock", "-o", str(output), "--image-size", "32", "32"]) == 0
        )
        assert sorted(p.name for p in tmp_path.glob("routing_leaf*.py")) == ["routing_leaf1.py", "routing_leaf2.py"]
        routing = json.loads(output.read_text(encoding="utf-8"))
        assert routing["needs_augmeta"] is True
        assert routing["nodes"][0] == {"node": 0, "feature": "mean", "at_most": 0.25, "yes": 1, "no": 2}
        assert "augmeta.meta.image_features" in routing["how_to_apply"]
        assert main(["export", str(path), "--to", "torchvision-stock", "-o", str(tmp_path / "routing.py")]) == 1
        assert "a meta-tree exports its routing as JSON: name the output .json" in capsys.readouterr().err

    def test_show_draws_one_grid_per_leaf(self, tree_file, tmp_path, capsys):
        output = tmp_path / "grid.png"
        assert main(["show", str(tree_file), "-n", "2", "--draws", "2", "-o", str(output)]) == 0
        assert sorted(p.name for p in tmp_path.glob("grid_leaf*.png")) == ["grid_leaf1.png", "grid_leaf2.png"]
        assert "leaf 2, 2 images x (original + 2 draws)" in capsys.readouterr().out


class TestErrors:
    """Trouble is one line on stderr and an exit code, never a traceback or a hang."""

    @pytest.mark.filterwarnings("ignore:albumentations export:UserWarning")
    def test_an_output_that_is_a_folder_or_under_a_file(self, tmp_path, capsys):
        assert main(["export", SVHN, "--to", "albumentations", "-o", str(tmp_path), "--image-size", "32", "32"]) == 1
        assert capsys.readouterr().err.startswith("error: ")
        (tmp_path / "file").write_text("x")
        output = tmp_path / "file" / "out.json"
        assert main(["export", SVHN, "--to", "albumentations", "-o", str(output), "--image-size", "32", "32"]) == 1
        assert capsys.readouterr().err.startswith("error: cannot use ")

    def test_diff_says_2_for_a_broken_file_and_1_for_a_difference(self, tmp_path, capsys):
        broken = tmp_path / "broken.json"
        broken.write_text("{", encoding="utf-8")
        assert main(["diff", CIFAR, str(broken)]) == 2
        assert "not valid JSON" in capsys.readouterr().err
        assert main(["diff", CIFAR, SVHN]) == 1

    def test_a_pipe_as_input_does_not_block(self, tmp_path, capsys):
        fifo = tmp_path / "pipe.json"
        os.mkfifo(fifo)
        assert main(["describe", str(fifo)]) == 1
        assert "is not a regular file" in capsys.readouterr().err


def test_a_reader_that_stops_early_is_not_an_error(monkeypatch):
    """``augmeta describe policy.json | head``: the pipe closes; the command ends quietly, as other tools do."""
    import builtins

    def closed(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(builtins, "print", closed)
    assert main(["describe", CIFAR]) == 0
