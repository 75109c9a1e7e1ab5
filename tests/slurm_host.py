"""A real Slurm cluster of this one host for the tests: munged, slurmctld and
slurmd from Debian's munge and slurm-wlm, configured in a directory of the
test's own, on ports it picks, and stopped at the end. Nothing here is
shipped; docs/DEPLOY.md shows the same commands."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

from cluster import free_port

# The node's name in Slurm, and so in SLURM_JOB_NODELIST: a name every host
# resolves to loopback, so that the ppservers and the client stay there
# whatever this host's own name resolves to.
NODE_NAME = "localhost"
# Slurm's daemons, and the commands of a client.
DAEMONS = ("munged", "slurmctld", "slurmd")
COMMANDS = ("sbatch", "sinfo", "squeue", "scancel", "srun")
# Seconds the daemons have to come up, and to go down once asked.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0

SLURM_CONF = """\
ClusterName=ppgotest
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
PlugStackConfig={dir}/plugstack.conf
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd.log
ReturnToService=2
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=ppgo Nodes=ALL Default=YES MaxTime=10 State=UP
"""


def unavailable() -> str:
    """Why a one-host Slurm cannot run here, or "" when it can."""
    if os.geteuid() != 0:
        return "slurmd must run as root to start jobs (this test runs as uid %d)" % os.geteuid()
    missing = [cmd for cmd in DAEMONS + COMMANDS if shutil.which(cmd) is None]
    if missing:
        return ("Slurm is not installed: no %s on PATH (Debian: apt-get install slurm-wlm munge)"
                % ", ".join(missing))
    return ""


class OneHostSlurm:
    """munged, slurmctld and slurmd for one node, NODE_NAME, with every file
    under directory; stop() ends them. `env` is what a Slurm command needs."""

    def __init__(self, directory: str) -> None:
        self.dir = directory
        self.procs: dict[str, subprocess.Popen] = {}
        # munged wants every directory above its socket searchable by all,
        # which pytest's own are not.
        self.socket_dir = tempfile.mkdtemp(prefix="ppgo-munge-")
        os.chmod(self.socket_dir, 0o755)
        self.munge_socket = os.path.join(self.socket_dir, "munge.socket")
        for sub in ("munge", "state", "spool", "log"):
            os.makedirs(os.path.join(directory, sub), mode=0o700)
        self.conf = os.path.join(directory, "slurm.conf")
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        self.cpus = os.cpu_count() or 1
        self._write_config()

    def _write_config(self) -> None:
        key = os.path.join(self.dir, "munge", "munge.key")
        with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400), "wb") as f:
            f.write(os.urandom(1024))
        open(os.path.join(self.dir, "plugstack.conf"), "w").close()
        with open(self.conf, "w") as f:
            f.write(SLURM_CONF.format(node=NODE_NAME, dir=self.dir, cpus=self.cpus,
                                      munge_socket=self.munge_socket,
                                      ctld_port=free_port(), slurmd_port=free_port()))

    def start(self) -> None:
        """Starts the daemons and waits until the node takes jobs. Raises
        RuntimeError (with the daemon's log) if one exits on the way."""
        munge = os.path.join(self.dir, "munge")
        self._spawn("munged", ["munged", "-F", "--key-file", os.path.join(munge, "munge.key"),
                               "--socket", self.munge_socket,
                               "--pid-file", os.path.join(munge, "munged.pid"),
                               "--seed-file", os.path.join(munge, "munged.seed"),
                               "--log-file", os.path.join(self.dir, "log", "munged.log")])
        self._wait(lambda: os.path.exists(self.munge_socket), "munged's socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-i"])
        self._wait(lambda: self._sinfo() != "", "slurmctld to answer")
        self._spawn("slurmd", ["slurmd", "-D", "-N", NODE_NAME])
        self._wait(lambda: self._sinfo() == "idle", "the node to be idle")

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = open(os.path.join(self.dir, "log", name + ".out"), "w")
        with log:
            self.procs[name] = subprocess.Popen(argv, env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL)

    def _sinfo(self) -> str:
        out = subprocess.run(["sinfo", "-h", "-n", NODE_NAME, "-o", "%T"], env=self.env,
                             capture_output=True, text=True, timeout=STOP_TIMEOUT)
        return out.stdout.strip() if out.returncode == 0 else ""

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError("%s exited (%s) while waiting for %s:\n%s"
                                       % (name, proc.returncode, what, self.log(name)))
            if time.monotonic() > deadline:
                raise RuntimeError("no %s within %ss; slurmctld:\n%s\nslurmd:\n%s"
                                   % (what, START_TIMEOUT, self.log("slurmctld"),
                                      self.log("slurmd")))
            time.sleep(0.2)

    def log(self, name: str, lines: int = 30) -> str:
        """The last lines name wrote to its log files."""
        text = ""
        for suffix in (".out", ".log"):
            try:
                with open(os.path.join(self.dir, "log", name + suffix)) as f:
                    text += "".join(f.readlines()[-lines:])
            except OSError:
                pass
        return text

    def sbatch(self, argv: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
        """Runs `sbatch --wait ARGV` with env added to the daemons'; returns
        when the job has ended, its exit status sbatch's."""
        return subprocess.run(["sbatch", "--wait"] + argv, env=dict(self.env, **env),
                              capture_output=True, text=True, timeout=timeout)

    def stop(self) -> None:
        """Cancels every job (their steps' processes go with them) and ends
        the daemons, slurmd first."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "-u", "root"], env=self.env,
                           capture_output=True, timeout=STOP_TIMEOUT)
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline and self._jobs_left():
                time.sleep(0.2)
        for name in reversed(list(self.procs)):
            proc = self.procs.pop(name)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def _jobs_left(self) -> bool:
        out = subprocess.run(["squeue", "-h", "-o", "%i"], env=self.env, capture_output=True,
                             text=True, timeout=STOP_TIMEOUT)
        return out.returncode == 0 and out.stdout.strip() != ""
