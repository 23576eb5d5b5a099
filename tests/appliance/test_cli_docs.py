"""The README's command list is what the code has (regenerate with `python -m appliance.cli.docs --write README.md`)."""

from __future__ import annotations

from appliance.cli import docs
from tests.support.paths import REPO

README = REPO / "README.md"


def test_readme_command_list_matches_the_code() -> None:
    text = README.read_text()
    assert docs.splice(text) == text, "README command list is stale: run python -m appliance.cli.docs --write README.md"


def test_every_contract_group_present_today_is_listed() -> None:
    block = docs.render()
    for command in ("appliance config init", "appliance config check", "appliance netd run",
                    "appliance lab up", "appliance lab down", "appliance hardware bom", "appliance doctor"):
        assert f"`{command}" in block
