"""The CLI entry point: version and help."""

from __future__ import annotations

from click.testing import CliRunner

from appliance import __version__
from appliance.cli.main import cli


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_help_lists_config_group() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "config" in result.output


def test_config_problems_each_get_an_error_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    bad = tmp_path / "cluster.yaml"
    bad.write_text("network:\n  subnet: 10.0.0.0/33\n  lease_time: -1\n")
    # `netd run` loads the config through the root handler (not config check's own printer).
    result = CliRunner().invoke(cli, ["netd", "run", "--config", str(bad), "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line]
    assert len(lines) >= 2 and all(line.startswith("error: ") for line in lines)
    assert any(":2: network.subnet" in line for line in lines)
