"""The container image (Containerfile), built by podman and served from its own files.

`make image-test` runs this module (`pytest -m image`); `make test` leaves it out. It
needs root, podman, debootstrap and chroot: without one it skips, saying which, except
under CI=true, where it fails.

No registry is needed. The base is Debian bookworm with python3, made by debootstrap
from this host's own apt mirror and imported into podman once (a few minutes; reused
while podman's storage holds it). The image is not started as a container: its command
runs by chroot in its mounted filesystem, as its user, with its environment and working
directory, on the host's network (as `podman run --network host` would). So do the
migrations, as a run of their own, and the image's HEALTHCHECK command.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.backends import PostgresServer
from tests.servers import ROOT, _wait_until_serving, call, free_port

pytestmark = [pytest.mark.image, pytest.mark.slow]

BASE = "localhost/stores-api-base:bookworm"
IMAGE = "localhost/stores-api:image-test"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The build fetches wheels from the package index trusting what this host trusts (a
# TLS-inspecting proxy's CA included). Mounted for the build only, it is not in the image.
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def require(ok, reason: str) -> None:
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)


def run(command: str, *more, **options) -> subprocess.CompletedProcess:
    """`command`'s words, then `more`; fails the test with its output unless it succeeds."""
    argv = [*command.split(), *map(str, more)]
    done = subprocess.run(argv, capture_output=True, text=True, **options)
    output = f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
    assert done.returncode == 0, (
        f"{' '.join(argv[:3])} exited {done.returncode}:\n{output}"
    )
    return done


def debian_mirror() -> str | None:
    """The Debian archive this host's apt reads: a deb822 .sources file, else sources.list."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(re.findall(r"^([\w-]+):[ \t]*(.*)$", stanza, re.M))
            suites = fields.get("Suites", "").split()
            if (
                fields.get("Enabled", "yes") != "no"
                and "deb" in fields.get("Types", "").split()
                and any("-" not in suite for suite in suites)
            ):
                return fields["URIs"].split()[0]
    legacy = Path("/etc/apt/sources.list")
    lines = legacy.read_text().splitlines() if legacy.exists() else []
    for line in lines:
        if found := re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+[a-z]+\s", line):
            return found.group(1)
    return None


def build_base(workdir: Path) -> float | None:
    """The base image, unless podman has it: seconds spent, or None when reused."""
    if subprocess.run(["podman", "image", "exists", BASE]).returncode == 0:
        return None
    require(shutil.which("debootstrap"), "debootstrap is not installed")
    mirror = debian_mirror()
    require(mirror, "this host's apt sources name no Debian archive")
    started, root = time.monotonic(), workdir / "rootfs"
    try:
        packages = "--include=python3,python3-venv,ca-certificates"
        run(f"debootstrap --variant=minbase {packages} bookworm", root, mirror)
        # What an image never needs: package lists and archives, logs, documentation
        # (the copyright files stay), manual pages, translations.
        run("find var/cache/apt var/log -type f -delete", cwd=root)
        gone = "var/lib/apt/lists usr/share/man usr/share/info usr/share/locale"
        run(f"find {gone} -mindepth 1 -delete", cwd=root)
        docs = "usr/share/doc -mindepth 1 ! -type d ! -name copyright"
        run(f"find {docs} -delete", cwd=root)
        tar = ["tar", "--numeric-owner", "-C", root, "-c", "."]
        with subprocess.Popen(tar, stdout=subprocess.PIPE) as archive:
            change = ["--change", f"ENV PATH={PATH}"]
            run("podman import -q", *change, "-", BASE, stdin=archive.stdout)
        assert archive.returncode == 0
    finally:
        # Never into what may still be mounted there (debootstrap mounts /proc, /sys).
        subprocess.run(["rm", "-rf", "--one-file-system", root])
    return time.monotonic() - started


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> dict:
    """The image built on the local base; its `podman image inspect` record."""
    require(os.geteuid() == 0, "building and mounting images needs root")
    for tool in ("podman", "chroot", "mount"):
        require(shutil.which(tool), f"{tool} is not installed")
    base_seconds = build_base(tmp_path_factory.mktemp("base"))
    ca = ["--volume", f"{HOST_CA}:{HOST_CA}:ro"] if HOST_CA.exists() else []
    started = time.monotonic()
    build = "podman build --isolation chroot --format docker"
    context = ["-f", ROOT / "Containerfile", ROOT]
    run(f"{build} --build-arg BASE={BASE} -t {IMAGE}", *ca, *context)
    build_seconds = time.monotonic() - started
    inspected = json.loads(run("podman image inspect", IMAGE).stdout)[0]
    base = "reused" if base_seconds is None else f"built in {base_seconds:.0f} s"
    print(
        f"\n{IMAGE}: {inspected['Size'] / 1e6:.1f} MB, built in {build_seconds:.0f} s "
        f"(base {BASE}: {base})"
    )
    return inspected


class Mounted:
    """The image's filesystem, mounted; commands start in it as the image's own does:
    as its user, with its environment (and HOME from its passwd, as podman sets it)
    and in its working directory."""

    def __init__(self, config: dict, root: Path):
        self.config, self.root = config, root
        uid = config["User"].partition(":")[0]
        passwd = [
            line.split(":") for line in (root / "etc/passwd").read_text().splitlines()
        ]
        self.env = dict(item.split("=", 1) for item in config["Env"])
        self.env["HOME"] = next((user[5] for user in passwd if user[2] == uid), "/")

    def start(self, command: list, env: dict, **options) -> subprocess.Popen:
        # chroot enters /: env, from the image, enters the working directory.
        chroot = ["chroot", f"--userspec={self.config['User']}", self.root]
        chdir = ["env", "-C", self.config["WorkingDir"]]
        return subprocess.Popen(
            [*chroot, *chdir, *command], env={**self.env, **env}, **options
        )

    def run(self, command: list, env: dict) -> tuple[int, str]:
        out = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        with self.start(command, env, **out) as process:
            output = process.communicate(timeout=120)[0]
        return process.returncode, output


@pytest.fixture(scope="module")
def mounted(image):
    """The image's files in a container that never starts, with /proc and /dev."""
    with ExitStack() as undo:
        container = run("podman create --no-healthcheck", IMAGE).stdout.strip()
        undo.callback(run, "podman rm", container)
        root = Path(run("podman mount", container).stdout.strip())
        undo.callback(run, "podman umount", container)
        for point, source in (("proc", "-t proc proc"), ("dev", "--bind /dev")):
            run(f"mount {source}", root / point)
            undo.callback(run, "umount", root / point)
        yield Mounted(image["Config"], root)


def test_the_image_runs_gunicorn_unprivileged_with_a_health_check(image):
    config = image["Config"]
    uid, _, gid = config["User"].partition(":")
    # Numeric, so an orchestrator (Kubernetes' runAsNonRoot) can tell it is not root.
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit(), config["User"]
    assert config["Cmd"][:3] == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert "8000/tcp" in config["ExposedPorts"]
    assert "GUNICORN_BIND=0.0.0.0:8000" in config["Env"]
    check = image["Healthcheck"]["Test"]
    assert check[0] in ("CMD", "CMD-SHELL") and "/health" in " ".join(check)
    assert image["Size"] < 250e6, f"{image['Size'] / 1e6:.0f} MB"


def test_the_image_holds_no_compiler_no_secrets_and_no_tests(mounted):
    for compiler in ("gcc", "cc", "x86_64-linux-gnu-gcc", "c++"):
        assert not os.path.lexists(mounted.root / "usr/bin" / compiler), compiler
    app = mounted.root / mounted.config["WorkingDir"].lstrip("/")
    assert (app / "app.py").exists() and (app / "migrations").is_dir()
    for unwanted in (".env", "tests", "bench", ".git", ".venv", "node_modules"):
        assert not os.path.lexists(app / unwanted), unwanted
    assert not (mounted.root / "opt/venv/bin/pip").exists()


def test_the_image_migrates_then_serves_the_walk_through(image, mounted, tmp_path):
    server = PostgresServer()
    database_url = server.create_database()
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": "image-test-secret-that-is-long-enough-to-sign",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }
    check = image["Healthcheck"]["Test"]
    health = check[1:] if check[0] == "CMD" else ["/bin/sh", "-c", check[1]]
    log = tmp_path / "gunicorn.log"
    try:
        status, output = mounted.run(["flask", "db", "upgrade"], env)
        assert status == 0, output
        with open(log, "w") as stream:
            gunicorn = mounted.start(
                mounted.config["Cmd"], env, stdout=stream, stderr=subprocess.STDOUT
            )
        try:
            _wait_until_serving(gunicorn, f"http://127.0.0.1:{port}", log)
            assert mounted.run(health, env) == (0, "")
            walk_through(f"http://127.0.0.1:{port}")
        finally:
            gunicorn.send_signal(signal.SIGTERM)
            assert gunicorn.wait(timeout=60) == 0, log.read_text()
        # With nothing serving, the same check fails.
        assert mounted.run(health, env)[0] != 0
    finally:
        server.drop_database(database_url)
        server.close()


def walk_through(base: str) -> None:
    """The README's curl walk-through, over HTTP."""

    def expect(status: int, method: str, path: str, body=None, token=None):
        got, answer = call(method, base + path, body, token)
        assert got == status, (method, path, got, answer)
        return answer

    jane = {"username": "jane", "password": "correct horse battery"}
    expect(201, "POST", "/register", jane)
    token = expect(200, "POST", "/login", jane)["access_token"]
    store = expect(201, "POST", "/store", {"name": "Corner Shop"}, token)["id"]
    chair = {"name": "Chair", "price": 17.99, "store_id": store}
    item = expect(201, "POST", "/item", chair, token)["id"]
    tag = expect(201, "POST", f"/store/{store}/tag", {"name": "furniture"}, token)["id"]
    expect(201, "POST", f"/item/{item}/tag/{tag}", token=token)
    shown = expect(200, "GET", f"/store/{store}", token=token)
    assert [i["name"] for i in shown["items"]] == ["Chair"]
    assert [t["name"] for t in shown["tags"]] == ["furniture"]
    shown = expect(200, "GET", f"/item/{item}", token=token)
    assert shown["price"] == 17.99
    assert [t["name"] for t in shown["tags"]] == ["furniture"]
    expect(200, "POST", "/logout", token=token)
    assert expect(401, "GET", "/me", token=token)["error"] == "token_revoked"
