"""Scripts run as ``python`` runs them, each in its own process, without importing torch each time.

A gallery example or a README block run by ``python`` spends about 5 s of
its 10 to 20 s importing torch, scikit-learn, skorch and skbatch, and a
suite runs twenty of them. The server, this file run as a script, imports
those once; each script then runs in a child forked from it: a process of
its own, started in the folder and with the arguments it is given, whose
stdout and stderr go to files of their own, that runs the script as
``__main__`` and exits as the interpreter exits after a script (its threads
joined, its ``atexit`` functions run). Whatever a script changes (torch's
threads, matplotlib's backend, the working directory, the RNGs, imported
modules) dies with its child, and the next one forks from the server again.

What the children share is the server's state when it forked: the imported
modules, which a script imports again at no cost (so whatever those imports
print, warnings included, is in the server's log, not in a script's stderr);
the environment the server was started with, the same for every script; the
seed of ``str`` hashes, drawn once per interpreter; and the RNG states at
start-up, reseeded in each child as a fresh interpreter seeds them (numpy's
global RNG from the OS, Python's ``random`` by Python itself after a fork;
torch's starts from the same fixed seed in every fresh interpreter anyway).
A test about what a fresh ``python`` prints or imports, or about hashes
across processes, starts one with ``subprocess`` instead.
"""

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

# What every example and README block imports; none of it starts a thread or a process.
PRELOAD = [
    "numpy",
    "scipy.stats",
    "pandas",
    "matplotlib.pyplot",
    "sklearn.datasets",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "torch",
    # torch.optim imports it at a fit's first step.
    "torch._dynamo",
    "skorch",
    "skbatch",
]


def python_runner(env):
    """A ForkServer where the platform forks safely (Linux); elsewhere, the same interface over plain ``python`` processes."""
    return ForkServer(env) if sys.platform == "linux" else _Subprocesses(env)


class _Subprocesses:
    def __init__(self, env):
        self._env = env

    def run(self, argv, cwd, timeout):
        return subprocess.run(
            [sys.executable, *map(str, argv)], cwd=cwd, env=self._env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def close(self):
        pass


class ForkServer:
    """The client: ``run(argv, cwd, timeout)`` is ``subprocess.run([sys.executable, *argv], cwd=cwd, ...)``."""

    def __init__(self, env):
        self._env = env
        self._files = Path(tempfile.mkdtemp(prefix="fork-server-"))
        self._process = None
        self._count = 0

    def _start(self):
        with open(self._files / "server.log", "wb") as log:
            # A session of its own: a hang kills the server and the script's processes with it.
            self._process = subprocess.Popen(
                [sys.executable, __file__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=self._env,
                text=True,
                start_new_session=True,
            )

    def run(self, argv, cwd, timeout):
        """``argv`` as ``python`` takes it (``[script, *args]`` or ``['-c', code]``): a CompletedProcess, or TimeoutExpired."""
        if self._process is None:
            self._start()
        self._count += 1
        stdout, stderr = self._files / f"{self._count}.out", self._files / f"{self._count}.err"
        request = {"argv": [str(arg) for arg in argv], "cwd": str(cwd), "stdout": str(stdout), "stderr": str(stderr)}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        if not ready:
            self._kill()
            raise subprocess.TimeoutExpired(argv, timeout)
        line = self._process.stdout.readline()
        if not line:
            self._kill()
            raise RuntimeError(f"the fork server exited:\n{(self._files / 'server.log').read_text()[-4000:]}")
        returncode = json.loads(line)["returncode"]
        return subprocess.CompletedProcess(argv, returncode, stdout.read_text(), stderr.read_text())

    def close(self):
        """Ends the server as its input ends; one still running after a minute is killed."""
        if self._process is not None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._kill()
        shutil.rmtree(self._files, ignore_errors=True)

    def _kill(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._process = None


def _run_in_child(request):
    """In the forked child: become ``python *argv`` started in ``cwd``, and exit as it would."""
    import builtins
    import multiprocessing.process
    import types

    import numpy as np

    os.chdir(request["cwd"])
    # The folder python started in, which multiprocessing records at import
    # (the server imported it elsewhere) and a spawned process starts in.
    multiprocessing.process.ORIGINAL_DIR = request["cwd"]
    for fd, path, flags in [
        (0, os.devnull, os.O_RDONLY),
        (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ]:
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    # numpy's global RNG from the OS, as numpy seeds it at import (Python
    # reseeds ``random`` itself after a fork).
    np.random.seed()
    argv = request["argv"]
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    if argv[0] == "-c":
        code = compile(argv[1], "<string>", "exec")
        sys.argv, sys.path[0] = ["-c", *argv[2:]], ""
    else:
        script = os.path.abspath(argv[0])
        code = compile(Path(script).read_bytes(), script, "exec")
        sys.argv, sys.path[0] = argv, os.path.dirname(script)
        main.__file__ = script
    main.__spec__ = main.__loader__ = None
    sys.modules["__main__"] = main
    exec(code, main.__dict__)
    # The interpreter's own exit: threads joined, atexit functions run. An
    # exception the script raised has left this frame already, and the
    # interpreter printed it and exits with 1, as after ``python script``.
    sys.exit(0)


def _serve():
    import gc
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    # The imported modules' objects live until the end of every child: moved
    # out of the garbage collector's sight, they cost no collection (about
    # 0.5 s at a child's exit) and stay shared with the server, not copied.
    gc.freeze()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _run_in_child(request)  # never returns: the child exits from there
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    _serve()
