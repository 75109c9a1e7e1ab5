"""deploy/systemd/ppserver.service: systemd-analyze checks the unit and its
sandbox, and ppserver runs as the unit starts it (its command line, config
file and credential) while a client uses it. Where systemd is PID 1, it
runs the unit itself too. Every ppserver listens on 127.0.0.1 only."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import pp
from ppserver_proc import PPSERVER, REPO, PPServer, alive, children, free_port, wait_until

pytestmark = pytest.mark.ppgo_only

UNIT = Path(REPO, "deploy", "systemd", "ppserver.service")
CONFIG = Path(REPO, "deploy", "systemd", "ppserver.ini")
UNIT_NAME = UNIT.name

# Where the unit expects ppgo's files (docs/DEPLOY.md, systemd section):
# the tests put this checkout's in their place.
INSTALLED_VENV = "/opt/ppgo"
INSTALLED_CONFIG = "/etc/ppserver/ppserver.ini"
INSTALLED_SECRET = "/etc/ppserver/secret"

# systemd-analyze security's overall exposure, from 0 (locked down) to 10;
# the unit scores 1.5 now. A setting dropped from its sandbox shows here.
MAX_EXPOSURE = 2.0


def systemd_analyze() -> str:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package has it)")
    return exe


def read_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """The unit's settings by section, in order (a key may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            raise ValueError("%s:%d: continuation lines are not read here" % (UNIT, number))
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        elif current is None or "=" not in line:
            raise ValueError("%s:%d: not a setting in a section: %r" % (UNIT, number, line))
        else:
            key, value = line.split("=", 1)
            current.append((key.strip(), value.strip()))
    return sections


def service_settings() -> list[tuple[str, str]]:
    return read_unit(UNIT.read_text())["Service"]


def setting(key: str) -> str:
    values = [v for k, v in service_settings() if k == key]
    assert len(values) == 1, "want one %s= in %s, found %d" % (key, UNIT, len(values))
    return values[0]


def installed_root(tmp_path: Path, unit_text: str) -> Path:
    """A root directory laid out as the unit expects an installed system:
    the unit in /etc/systemd/system and ppserver in /opt/ppgo/bin."""
    root = tmp_path / "root"
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    (units / UNIT_NAME).write_text(unit_text)
    binary = root / INSTALLED_VENV.lstrip("/") / "bin" / "ppserver"
    binary.parent.mkdir(parents=True)
    shutil.copy(PPSERVER, binary)
    return root


def verify(tmp_path: Path, unit_text: str) -> list[str]:
    """What systemd-analyze verify says about the unit, as a list of
    complaints; empty when it has none."""
    root = installed_root(tmp_path, unit_text)
    # --recursive-errors=no: the private root has none of the system's own
    # units (sysinit.target, ...), which the unit's dependencies pull in.
    proc = subprocess.run([systemd_analyze(), "verify", "--man=no", "--recursive-errors=no",
                           "--root=%s" % root, UNIT_NAME],
                          capture_output=True, text=True, timeout=60)
    lines = (proc.stdout + proc.stderr).splitlines()
    complaints = [line for line in lines if UNIT_NAME in line]
    if proc.returncode != 0 and not complaints:
        complaints = ["systemd-analyze verify exited %d: %s" % (proc.returncode, lines)]
    return complaints


def test_unit_verifies(tmp_path):
    assert verify(tmp_path, UNIT.read_text()) == []


@pytest.mark.parametrize("good, bad", [
    ("ProtectSystem=strict", "ProtectSytem=strict"),
    ("AF_INET6 AF_UNIX", "AF_INET6 AF_UNIXX"),
    ("%d/secret", "%z/secret"),
    ("/opt/ppgo/bin/ppserver", "/opt/ppgo/bin/ppserverd"),
])
def test_verify_catches_mistakes(tmp_path, good, bad):
    text = UNIT.read_text()
    assert good in text
    assert verify(tmp_path, text.replace(good, bad, 1)) != []


def test_sandbox_exposure(tmp_path):
    root = installed_root(tmp_path, UNIT.read_text())
    proc = subprocess.run([systemd_analyze(), "security", "--offline=yes", "--no-pager",
                           "--root=%s" % root, "--threshold=%d" % (MAX_EXPOSURE * 10),
                           str(root / "etc" / "systemd" / "system" / UNIT_NAME)],
                          capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for %s: (\d+\.\d+)" % re.escape(UNIT_NAME),
                      proc.stdout)
    assert found, proc.stdout + proc.stderr
    print("exposure level:", found.group(1))
    assert float(found.group(1)) <= MAX_EXPOSURE and proc.returncode == 0, proc.stdout


def test_unit_settings_that_matter():
    """What the sandbox must keep for ppserver to work, and the secret's way in."""
    assert setting("Type") == "exec"  # ppserver has no sd_notify
    assert setting("KillMode") == "mixed"  # SIGTERM to ppserver alone: it drains its jobs
    families = setting("RestrictAddressFamilies").split()
    assert sorted(families) == ["AF_INET", "AF_INET6", "AF_UNIX"]
    assert setting("DynamicUser") == "yes"
    assert setting("LoadCredential") == "secret:" + INSTALLED_SECRET
    argv = shlex.split(setting("ExecStart"))
    assert "-s" not in argv and not any(a.startswith("-s") and a[1] != "-" for a in argv)
    assert argv[argv.index("--secret-file") + 1] == "%d/secret"


def expand_specifiers(arg: str, credentials: Path) -> str:
    """The unit's specifiers as systemd expands them: %d, the credentials
    directory, and %% a percent sign; no other is used."""
    def one(m: re.Match) -> str:
        if m.group(1) == "d":
            return str(credentials)
        if m.group(1) == "%":
            return "%"
        raise AssertionError("specifier %%%s in ExecStart is not expanded here" % m.group(1))
    return re.sub(r"%(.)", one, arg)


def exec_start(credentials: Path) -> list[str]:
    """ExecStart as systemd runs it, on this checkout's files."""
    installed = {INSTALLED_CONFIG: str(CONFIG)}
    argv = [expand_specifiers(a, credentials) for a in shlex.split(setting("ExecStart"))]
    exe = Path(argv[0])
    assert exe.parent == Path(INSTALLED_VENV, "bin"), "ExecStart runs %s" % exe
    return [str(Path(PPSERVER).parent / exe.name)] + [installed.get(a, a) for a in argv[1:]]


def remote_squares(port: int, secret: str, n: int = 20) -> dict:
    """Runs n jobs on the ppserver at 127.0.0.1:port alone; returns their
    results and the job count per node."""
    job_server = pp.Server(ncpus=0, ppservers=("127.0.0.1:%d" % port,), secret=secret)
    try:
        jobs = [job_server.submit(pow, (x, 2)) for x in range(n)]
        results = [job() for job in jobs]
        nodes = {node: stat.njobs for node, stat in job_server.get_stats().items() if stat.njobs}
    finally:
        job_server.destroy()
    return {"results": results, "nodes": nodes}


def test_ppserver_runs_as_the_unit_starts_it(tmp_path):
    secret = secrets.token_urlsafe(32)
    # LoadCredential=secret:PATH: systemd copies PATH to
    # $CREDENTIALS_DIRECTORY/secret, readable by the service alone.
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    (credentials / "secret").write_text(secret + "\n")
    (credentials / "secret").chmod(0o400)
    workdir = tmp_path / "private-tmp"  # WorkingDirectory=/tmp, private to the service
    workdir.mkdir()
    assert setting("WorkingDirectory") == "/tmp"

    port = free_port()
    argv = exec_start(credentials) + ["-i", "127.0.0.1", "-p", str(port)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PP_SECRET")}
    with PPServer(argv[1:], exe=argv[0], env=env, cwd=str(workdir)) as server:
        server.wait_listening()
        # -f "%%(levelname)s %%(message)s" reached ppserver unescaped.
        assert re.search(r"^INFO Listening on 127\.0\.0\.1:%d " % port, server.stderr, re.M), \
            server.stderr
        got = remote_squares(port, secret)
        assert got["results"] == [x * x for x in range(20)]
        assert got["nodes"] == {"127.0.0.1:%d" % port: 20}
        # The config file leaves ppserver one worker per CPU it may use.
        workers = server.workers(len(os.sched_getaffinity(0)))

        # What KillMode=mixed relies on: SIGTERM to ppserver alone stops
        # it, status 0, and its workers with it.
        server.signal(signal.SIGTERM)
        assert server.wait() == 0, server.stderr
        wait_until(lambda: not any(alive(pid) for pid in workers), what="workers to exit")


# What the emulated sandbox below applies before it runs ppserver, as root
# in a mount namespace of its own: ProtectSystem=strict (every file system
# read-only but /proc, /sys and /dev), PrivateTmp (a directory of the test's
# on /tmp), ProtectHome=yes (empty, inaccessible /home, /root, /run/user),
# WorkingDirectory=/tmp, then setpriv for DynamicUser (a uid of systemd's
# dynamic range, no groups), NoNewPrivileges, CapabilityBoundingSet= (none)
# and UMask=0077.
SANDBOX = r"""
private_tmp=$1 uid=$2
shift 2
mount --make-rprivate /
mount --bind "$private_tmp" /tmp
awk '{print $5}' /proc/self/mountinfo | sort -u | while read -r m; do
    case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/tmp) continue;; esac
    mount -o remount,bind,ro "$m"
done
for d in /home /root /run/user; do
    if [ -d "$d" ]; then mount -t tmpfs -o ro,mode=000 tmpfs "$d"; fi
done
cd /tmp
umask 0077
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs \
    --inh-caps=-all --bounding-set=-all -- "$@"
"""
DYNAMIC_UID = 61234  # in systemd's range for DynamicUser=, 61184-65519
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # systemd's
PROTECTED_HOMES = ("/home", "/root", "/run/user")


def world_usable(path: str) -> bool:
    """Whether any user may run path: it and every directory above it
    allow others in."""
    p = Path(path).resolve()
    return os.access(p, os.X_OK) and all(
        d.stat().st_mode & 0o001 for d in [p.parent, *p.parent.parents])


def sandbox_unavailable() -> str:
    """Why the emulated sandbox cannot run here, or ""."""
    if os.geteuid() != 0:
        return "the emulated sandbox needs root (mount namespaces, setpriv)"
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            return "%s is not installed (util-linux)" % tool
    probe = subprocess.run(["unshare", "--mount", "--fork", "--", "sh", "-ec",
                            "mount --make-rprivate / && mount -o remount,bind,ro /"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return "no private read-only mounts here: %s" % probe.stderr.strip()
    if not world_usable(PPSERVER):
        return "%s is not reachable by an unprivileged user" % PPSERVER
    # ppserver's worker Python: the one beside it, else python3 on PATH.
    pythons = [Path(d, "python3") for d in [Path(PPSERVER).parent, *SERVICE_PATH.split(":")]]
    if not any(p.exists() and world_usable(str(p)) and
               not any(p.resolve().is_relative_to(home) for home in PROTECTED_HOMES)
               for p in pythons):
        return "no python3 that the service's user could run, outside %s" % (PROTECTED_HOMES,)
    return ""


def sandbox_probe():
    """A job that reports the sandbox it runs in."""
    import errno
    import os
    with open("scratch", "w") as f:
        f.write("jobs may write here")
    try:
        open("/etc/ppgo-sandbox-probe", "w").close()
        system = "writable"
    except OSError as exc:
        system = errno.errorcode.get(exc.errno, str(exc.errno))
    try:
        home = "listed %d entries" % len(os.listdir("/root"))
    except OSError as exc:
        home = errno.errorcode.get(exc.errno, str(exc.errno))
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    mask = os.umask(0)
    os.umask(mask)
    return {"uid": os.getuid(), "groups": os.getgroups(), "cwd": os.getcwd(), "system": system,
            "home": home, "no_new_privs": status["NoNewPrivs"].strip(),
            "cap_bounding": status["CapBnd"].strip(), "umask": mask}


def test_ppserver_in_an_emulated_sandbox(tmp_path):
    """Without systemd, the unit's file and user restrictions are applied
    by hand (SANDBOX) to ppserver started with the unit's command line; a
    client's jobs run, and they find what the unit promises them."""
    why = sandbox_unavailable()
    if why:
        pytest.skip(why)
    for key, value in [("DynamicUser", "yes"), ("ProtectSystem", "strict"),
                       ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("NoNewPrivileges", "yes"),
                       ("CapabilityBoundingSet", ""), ("UMask", "0077"),
                       ("WorkingDirectory", "/tmp")]:
        assert setting(key) == value, "the unit's %s= differs from what SANDBOX applies" % key
    secret = secrets.token_urlsafe(32)
    private_tmp = tmp_path / "private-tmp"
    private_tmp.mkdir()
    private_tmp.chmod(0o1777)
    # The credentials directory, as systemd makes it: the service's own.
    credentials = private_tmp / "credentials"
    credentials.mkdir(mode=0o500)
    (credentials / "secret").write_text(secret + "\n")
    for path, mode in [(credentials / "secret", 0o400), (credentials, 0o500)]:
        os.chown(path, DYNAMIC_UID, DYNAMIC_UID)
        path.chmod(mode)

    port = free_port()
    argv = exec_start(Path("/tmp/credentials")) + ["-i", "127.0.0.1", "-p", str(port)]
    env = {"PATH": SERVICE_PATH, "HOME": "/"}
    wrapper = ["--mount", "--fork", "--", "sh", "-ec", SANDBOX, "sh",
               str(private_tmp), str(DYNAMIC_UID)]
    with PPServer(wrapper + argv, exe="unshare", env=env, cwd="/") as server:
        # unshare's child, which becomes ppserver. It is stopped by its own
        # pid: it changes its uid, which clears a parent-death signal, so
        # it would outlive unshare.
        wait_until(lambda: len(children(server.pid)) == 1, what="unshare's child")
        [ppserver] = children(server.pid)
        try:
            server.wait_listening()
            job_server = pp.Server(ncpus=0, ppservers=("127.0.0.1:%d" % port,), secret=secret)
            try:
                seen = job_server.submit(sandbox_probe)()
                assert job_server.submit(pow, (7, 2))() == 49
            finally:
                job_server.destroy()
            os.kill(ppserver, signal.SIGTERM)
            assert server.wait() == 0, server.stderr
        finally:
            if alive(ppserver):
                os.kill(ppserver, signal.SIGKILL)
    assert seen == {"uid": DYNAMIC_UID, "groups": [], "cwd": "/tmp", "system": "EROFS",
                    "home": "EACCES", "no_new_privs": "1", "cap_bounding": "0" * 16,
                    "umask": 0o077}, server.stderr
    assert (private_tmp / "scratch").read_text() == "jobs may write here"


def systemd_is_pid1() -> bool:
    return os.path.isdir("/run/systemd/system")


def pid1_name() -> str:
    try:
        return Path("/proc/1/comm").read_text().strip()
    except OSError:
        return "unknown"


@pytest.mark.skipif(not systemd_is_pid1(),
                    reason="systemd is not PID 1 on this machine (PID 1 is %s), so it cannot "
                           "start the unit; systemd-analyze checks the unit and its command "
                           "line is run directly" % pid1_name())
@pytest.mark.skipif(os.geteuid() != 0, reason="starting a system service needs root")
def test_unit_under_systemd(tmp_path):
    """The unit itself, sandbox and all, run by systemd on this checkout's
    files: only the paths of what it would find installed change, and
    ppserver is moved to loopback."""
    secret = secrets.token_urlsafe(32)
    secret_file = tmp_path / "secret"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o600)
    port = free_port()
    unit = "ppgo-test-%d-%d.service" % (os.getpid(), port)
    text = UNIT.read_text()
    for installed, here in [(INSTALLED_VENV + "/bin/", str(Path(PPSERVER).parent) + "/"),
                            (INSTALLED_CONFIG, str(CONFIG)), (INSTALLED_SECRET, str(secret_file))]:
        assert installed in text
        text = text.replace(installed, here)
    text = re.sub(r"^(ExecStart=.*)$", r"\1 -i 127.0.0.1 -p %d" % port, text, flags=re.M)
    path = Path("/run/systemd/system", unit)
    path.write_text(text)
    try:
        subprocess.run(["systemctl", "daemon-reload"], check=True, timeout=60)
        subprocess.run(["systemctl", "start", unit], check=True, timeout=60)
        wait_until(lambda: _accepts(port), what="the service to listen")
        got = remote_squares(port, secret)
        assert got["results"] == [x * x for x in range(20)]
        subprocess.run(["systemctl", "stop", unit], check=True, timeout=60)
        show = subprocess.run(["systemctl", "show", "--property=Result,ExecMainStatus", unit],
                              capture_output=True, text=True, timeout=60).stdout
        assert "Result=success" in show and "ExecMainStatus=0" in show, show
    finally:
        subprocess.run(["systemctl", "stop", unit], capture_output=True, timeout=60)
        path.unlink()
        subprocess.run(["systemctl", "daemon-reload"], timeout=60)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        time.sleep(0.1)
        return False
