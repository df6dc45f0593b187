"""The README's curl walk-through works exactly as printed."""

import os
import re
import shutil
import subprocess

import pytest

from tests.servers import ROOT

pytestmark = pytest.mark.slow


def walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough -->\n```bash\n(.*?)```", readme, re.S)
    assert block, "README.md has no walk-through block"
    return block.group(1)


def run_walkthrough(api: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The walk-through as printed, against `api` instead of make run's address."""
    script = walkthrough()
    assert "API=http://127.0.0.1:5000\n" in script
    script = script.replace("API=http://127.0.0.1:5000\n", f"API={api}\n", 1)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_readme_walkthrough_works_as_printed(gunicorn_server):
    if shutil.which("curl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("curl is required in CI")
        pytest.skip("curl is not installed")
    base_url, _ = gunicorn_server

    result = run_walkthrough(base_url)

    assert result.returncode == 0, result.stderr
    output = result.stdout
    assert '"username":"jane"' in output
    assert '"name":"Chair"' in output and '"name":"furniture"' in output
    assert '"price":17.99' in output
    assert '"message":"Successfully logged out."' in output
    assert (
        output.rstrip().endswith("}")
        and '"error":"token_revoked"' in output.splitlines()[-1]
    )


def test_the_layout_table_lists_every_top_level_path():
    """Every file and folder the repository holds at its top has a row."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Layout\n", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            listed.update(re.findall(r"`([^`]+)`", row.split(" | ")[0]))
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    top = {path.split("/")[0] + ("/" if "/" in path else "") for path in tracked}
    listed = {path.rstrip("/") + ("/" if path.endswith("/") else "") for path in listed}
    missing = sorted(top - listed)
    assert not missing, f"README.md's Layout table lacks {missing}"
    gone = sorted(listed - top)
    assert not gone, (
        f"README.md's Layout table lists {gone}, which the repository lacks"
    )
