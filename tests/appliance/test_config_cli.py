"""`appliance config init|check` through click, and the files they read and write."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from appliance.cli.main import cli
from foundation.config import default_config_text, load_config
from foundation.config.model import Config
from foundation.config.schema import Entries, Section, build_schema
from tests.support.paths import REPO

SHARED_EXAMPLE = REPO.parent / "shared" / "cluster.example.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_init_to_stdout_is_the_default_file() -> None:
    code, out, _ = run("config", "init")
    assert code == 0
    assert out == default_config_text()


def test_init_out_then_check_ok(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    code, out, _ = run("config", "init", "--out", str(path))
    assert code == 0 and f"wrote {path}" in out
    assert path.read_text() == default_config_text()
    code, out, err = run("config", "check", str(path))
    assert (code, out, err) == (0, f"{path}: ok\n", "")


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("mine\n")
    code, _, err = run("config", "init", "--out", str(path))
    assert code == 2
    assert err == f"error: {path}: already exists — pass --force to overwrite it\n"
    assert path.read_text() == "mine\n"
    code, _, _ = run("config", "init", "--out", str(path), "--force")
    assert code == 0 and path.read_text() == default_config_text()


def test_init_into_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = run("config", "init", "--out", str(tmp_path / "no" / "cluster.yaml"))
    assert code == 2 and "cannot write" in err and "\n" == err[-1] and err.count("\n") == 1


def test_check_prints_one_line_per_problem_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("cluster:\n  name: Bad_Name\nnetwork:\n  subnet: 10.0.0.0/33\n")
    code, out, err = run("config", "check", str(path))
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:2: cluster.name: ")
    assert lines[1].startswith(f"{path}:4: network.subnet: ")


@pytest.mark.parametrize(("make", "says"), [
    (lambda p: None, "no such file — write one with `appliance config init --out"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00"), "not UTF-8"),
    (lambda p: p.write_text(""), "the file is empty"),
], ids=["missing", "directory", "binary", "empty"])
def test_check_unusable_files(tmp_path: Path, make, says: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "cluster.yaml"
    make(path)
    code, out, err = run("config", "check", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(str(path)) and says in err


def test_default_file_passes_check_and_matches_the_dataclass_defaults() -> None:
    path = REPO / "foundation" / "config" / "cluster.yaml"
    config = load_config(path)
    defaults = Config()
    for section in ("cluster", "network", "kubernetes", "nodes", "access", "wifi", "provisioning", "web"):
        assert getattr(config, section) == getattr(defaults, section), section


def _schema_paths(section: Section, prefix: str = "") -> set[str]:
    paths = set()
    for name, key in section.keys.items():
        path = prefix + name
        paths.add(path)
        if isinstance(key, Section):
            paths |= _schema_paths(key, path + ".")
        elif isinstance(key, Entries):
            paths |= _schema_paths(key.entry, path + "[].")
    return paths


def _yaml_paths(value: object, prefix: str = "") -> set[str]:
    paths = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            paths.add(prefix + key)
            paths |= _yaml_paths(inner, prefix + key + ".")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                paths |= _yaml_paths(item, prefix.rstrip(".") + "[].")
    return paths


@pytest.mark.skipif(not SHARED_EXAMPLE.exists(), reason="shared/cluster.example.yaml is not beside the clone")
def test_shared_example_keys_are_all_known() -> None:
    example = yaml.safe_load(SHARED_EXAMPLE.read_text())
    unknown = _yaml_paths(example) - _schema_paths(build_schema(Path(".")))
    assert not unknown
    # The example's placeholders are the only things the loader refuses in it.
    code, _, err = run("config", "check", str(SHARED_EXAMPLE))
    assert code == 2
    refused = {line.split(": ")[1] for line in err.splitlines()}
    assert refused <= {"access.password_hash", "access.ssh_authorized_keys[0]", "wifi.psk_file",
                       "web.admin_password_hash"}


def test_default_file_keys_are_the_example_keys() -> None:
    if not SHARED_EXAMPLE.exists():
        pytest.skip("shared/cluster.example.yaml is not beside the clone")
    uncommented = "\n".join(line.replace("# ", "", 1) if line.lstrip().startswith(("# password_hash",
                            "# ssid", "# psk_file", "# admin_password_hash")) else line
                            for line in default_config_text().splitlines())
    assert _yaml_paths(yaml.safe_load(uncommented)) | {"nodes[].name", "nodes[].mac"} >= \
        _yaml_paths(yaml.safe_load(SHARED_EXAMPLE.read_text()))
