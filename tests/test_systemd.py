"""The shipped systemd unit, checked by systemd's own tool: it loads without a
warning, its sandbox scores a low exposure, it keeps the options the deployment
relies on; and its environment file names only settings the server reads."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dotenv import dotenv_values

from config import VARIABLES, from_environment
from tests.servers import ROOT

UNIT = ROOT / "deploy" / "stores-api.service"
ENV_EXAMPLE = ROOT / "deploy" / "stores-api.env.example"
# Where the unit expects the release's code (and its .venv) to be installed.
PREFIX = "/opt/stores-api"
MAX_EXPOSURE = 2.5


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        reason = "systemd-analyze is not installed (Debian's systemd package)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    return found


def directives(text: str) -> dict[str, list[str]]:
    """Each `Section.Key` of a unit file and its values, in order (a key may
    repeat: SystemCallFilter=)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def installed(unit_text: str, prefix: Path) -> Path:
    """The unit as installed with its code under `prefix` instead of PREFIX:
    `prefix` holds the venv's real gunicorn, so verify checks the command that
    runs. Only the install prefix is rewritten."""
    venv_bin = prefix / "code" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "gunicorn").symlink_to(ROOT / ".venv" / "bin" / "gunicorn")
    (prefix / "units").mkdir()
    unit = prefix / "units" / UNIT.name
    unit.write_text(unit_text.replace(PREFIX, str(prefix / "code")))
    return unit


def verify(systemd_analyze: str, unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [systemd_analyze, "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_unit_passes_systemd_analyze_verify_without_a_warning(
    systemd_analyze, tmp_path
):
    assert PREFIX in UNIT.read_text()
    unit = installed(UNIT.read_text(), tmp_path)

    result = verify(systemd_analyze, unit)

    # verify exits 0 on some warnings (an unknown key is only "ignoring"):
    # any line it prints is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_reports_a_misspelled_directive(systemd_analyze, tmp_path):
    text = UNIT.read_text().replace("\nProtectHome=", "\nProtectHom=")
    unit = installed(text, tmp_path)

    result = verify(systemd_analyze, unit)

    assert "Unknown key 'ProtectHom'" in result.stderr


def test_the_unit_is_sandboxed_to_a_low_exposure_score(systemd_analyze):
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=yes", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    match = re.search(
        rf"Overall exposure level for {UNIT.name}: ([\d.]+) (\w+)", result.stdout
    )
    assert match, result.stdout
    score, verdict = float(match[1]), match[2]
    print(f"systemd-analyze security: exposure {score} {verdict}")
    assert score <= MAX_EXPOSURE and verdict == "OK", result.stdout


def test_the_unit_runs_gunicorn_unprivileged_with_its_settings_and_a_restart():
    unit = directives(UNIT.read_text())
    service = {
        key.removeprefix("Service."): values[-1]
        for key, values in unit.items()
        if key.startswith("Service.")
    }

    assert service["ExecStart"] == f"{PREFIX}/.venv/bin/gunicorn -c gunicorn.conf.py"
    assert service["WorkingDirectory"] == PREFIX
    assert service["User"] not in ("", "root", "0")
    assert service["EnvironmentFile"] == "/etc/stores-api/env"
    assert service["Restart"] == "on-failure" and service["RestartSec"]
    # gunicorn's master sends READY=1 (sd_notify) itself.
    assert (service["Type"], service["NotifyAccess"]) == ("notify", "main")
    assert service["ExecReload"] == "/bin/kill -s HUP $MAINPID"
    assert unit["Install.WantedBy"] == ["multi-user.target"]


def test_the_unit_keeps_the_sandbox_options_it_relies_on():
    service = {k: v[-1] for k, v in directives(UNIT.read_text()).items()}

    assert {
        key: service.get(f"Service.{key}")
        for key in (
            "NoNewPrivileges",
            "ProtectSystem",
            "ProtectHome",
            "PrivateTmp",
            "PrivateDevices",
            "CapabilityBoundingSet",
            "AmbientCapabilities",
            "UMask",
        )
    } == {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "UMask": "0077",
    }


def test_the_control_socket_lands_in_the_runtime_directory():
    service = directives(UNIT.read_text())

    # gunicorn.conf.py names the control socket under XDG_RUNTIME_DIR.
    assert "XDG_RUNTIME_DIR" in (ROOT / "gunicorn.conf.py").read_text()
    runtime = service["Service.RuntimeDirectory"][-1]
    assert f"XDG_RUNTIME_DIR=/run/{runtime}" in service["Service.Environment"]


def test_the_unit_waits_out_gunicorns_graceful_shutdown():
    service = {k: v[-1] for k, v in directives(UNIT.read_text()).items()}
    graceful = re.search(
        r'"GUNICORN_GRACEFUL_TIMEOUT", "(\d+)"', (ROOT / "gunicorn.conf.py").read_text()
    )
    assert graceful
    example = dotenv_values(ENV_EXAMPLE)

    # SIGTERM to the master only; its workers get the graceful timeout, and
    # systemd's SIGKILL comes only after it.
    assert service["Service.KillMode"] == "mixed"
    stop = int(service["Service.TimeoutStopSec"].removesuffix("s"))
    assert stop > int(example.get("GUNICORN_GRACEFUL_TIMEOUT") or graceful[1])


def gunicorn_settings() -> set[str]:
    """The environment variables gunicorn.conf.py reads."""
    text = (ROOT / "gunicorn.conf.py").read_text()
    return set(re.findall(r'os\.environ(?:\.get\(|\[)"([A-Z0-9_]+)"', text))


def test_every_variable_of_the_env_example_is_a_setting_the_server_reads():
    known = {variable.name for variable in VARIABLES} | gunicorn_settings()
    named = re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M)

    assert named and set(named) <= known, set(named) - known
    assert len(named) == len(set(named))


def test_the_env_example_sets_what_a_production_host_needs():
    example = dotenv_values(ENV_EXAMPLE)

    assert {
        "DATABASE_URL",
        "JWT_SECRET_KEY",
        "REDIS_URL",
        "GUNICORN_BIND",
        "WEB_CONCURRENCY",
        "TRUSTED_PROXIES",
        "CELERY_BROKER_URL",
        "SMTP_URL",
        "APP_URL",
        "MAIL_FROM",
    } <= set(example)
    # A placeholder secret would start a server anyone can forge tokens for.
    assert example["JWT_SECRET_KEY"] == ""
    assert example["TRUSTED_PROXIES"] == "1"
    # Loopback behind nginx, and a port the unit may bind without a capability.
    host, port = (example["GUNICORN_BIND"] or "").rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 1024


def test_the_env_example_parses_as_the_server_reads_it(monkeypatch):
    for name, value in dotenv_values(ENV_EXAMPLE).items():
        monkeypatch.setenv(name, value or "")

    settings = from_environment()

    assert settings["TRUSTED_PROXIES"] == 1
    assert settings["MAIL_FROM"] == "Stores API <no-reply@example.com>"
    assert "JWT_SECRET_KEY" not in settings  # empty counts as unset
