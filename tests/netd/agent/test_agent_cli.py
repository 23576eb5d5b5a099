"""`appliance agent run` and `python3 -m netd.agent`: argument errors are one line and exit 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from appliance.cli.main import cli
from tests.support.paths import PYTHON, REPO, debian_python


def test_agent_run_rejects_a_bad_master_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["agent", "run", "--master", "ftp://10.0.0.1", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "expected http://HOST:PORT" in result.output


def test_agent_run_help_names_its_options() -> None:
    result = CliRunner().invoke(cli, ["agent", "run", "--help"])
    assert result.exit_code == 0
    assert "--master" in result.output and "--state-dir" in result.output


def test_module_entry_point_runs_on_debians_python(tmp_path: Path) -> None:
    done = subprocess.run(
        [debian_python(), "-m", "netd.agent", "--master", "10.0.0.1:8081", "--state-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: --master '10.0.0.1:8081': expected http://HOST:PORT")


def test_appliance_agent_run_is_the_module_front_end_itself() -> None:
    """One code path: `appliance agent run` hands its arguments to `python3 -m netd.agent`'s
    own parser (same options, same help, same checks), only the program name differs."""
    through_cli = CliRunner().invoke(cli, ["agent", "run", "--help"])
    module = subprocess.run([PYTHON, "-m", "netd.agent", "--help"], capture_output=True, text=True, cwd=REPO,
                            timeout=30, check=True)

    def words(text: str, prog: str) -> str:
        return " ".join(text.replace(prog, "PROG").split())

    assert through_cli.exit_code == 0
    assert words(through_cli.output, "appliance agent run") == words(module.stdout, "python3 -m netd.agent")
    missing = CliRunner().invoke(cli, ["agent", "run", "--master", "http://10.0.0.1:8081"])
    assert missing.exit_code == 2 and "the following arguments are required: --state-dir" in missing.output
