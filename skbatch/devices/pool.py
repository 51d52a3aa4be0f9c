"""Where each fit of a search trains: device slots held through OS file locks, and CPU thread shares.

A search runs every (candidate, fold) fit as a fresh clone in a joblib worker
(a loky process, a thread or a Dask worker). Each fit takes a free slot of a
:class:`DevicePool` for as long as it trains and hands it back after. Slots are
``filelock`` locks, one file per slot on the local disk: the operating system
drops the lock of a process that dies, so a killed worker never keeps a device.
"""

import contextlib
import datetime
import os
import re
import socket
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import filelock
import torch
from skorch.callbacks import Callback

from .._compat import Interval, StrOptions, validate_parameter_constraints
from .._folders import tamper_risk
from .resolve import _CUDA_PATTERN, _no_cuda_reason, resolve_device

__all__ = ["DevicePool", "Placement", "place_fit", "cpu_thread_share", "ThreadShareRebalance"]

# A waiting fit polls the slots this often; a fit lasts seconds to hours.
_POLL_INTERVAL = 0.05


@dataclass(frozen=True)
class _Device:
    """A device as torch addresses it in this process, and what it is physically."""

    torch_device: torch.device
    uuid: str | None  # None for the CPU

    @property
    def key(self):
        return self.uuid or "cpu"


def _visible_gpus():
    """Every CUDA device this process sees, with its UUID; the seam tests replace.

    A UUID, not an index, names the GPU: Dask-CUDA workers each see their own
    GPU as ``cuda:0`` through ``CUDA_VISIBLE_DEVICES``.
    """
    if not torch.cuda.is_available():
        return []
    return [_Device(torch.device("cuda", i), f"GPU-{torch.cuda.get_device_properties(i).uuid}") for i in range(torch.cuda.device_count())]


def _default_lock_dir():
    """``/tmp/skbatch-<uid>/device-slots``: one folder per account, whatever its environment.

    Keyed by the numeric uid rather than ``$USER`` or ``$TMPDIR``, which
    differ between the environments (a notebook, a batch job) of one account:
    two folders would make two pools of the same devices.
    """
    if not hasattr(os, "getuid"):  # Windows: no uids; the temp folder is per account
        return Path(tempfile.gettempdir()) / "skbatch-device-slots"
    return Path("/tmp") / f"skbatch-{os.getuid()}" / "device-slots"


def _private_folder(path, *, param):
    """Create ``path`` (mode 0700) if needed; refuse it if another account could tamper with its locks.

    A folder another account owns, or one that others may write, lets them
    delete or take held locks: two fits would then share a device.
    """
    path = Path(path)
    folders = [path] if param else [path.parent, path]
    for folder in folders:
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700, parents=True)
        _check_private(folder, param)
    return path


def _check_private(folder, param):
    """The rule of :func:`skbatch._folders.tamper_risk`, for the folder of the device slots' locks."""
    risk = tamper_risk(folder)
    if risk is None:
        return
    kind, detail = risk
    how = (
        "pass DevicePool(lock_dir=...) a folder of your own with mode 0700"
        if param
        else "remove it (or chmod 700 it if it is yours), or pass DevicePool(lock_dir=...) a folder of your own"
    )
    if kind == "not a folder":
        raise PermissionError(f"The device slot folder {str(folder)!r} is not a folder (a link or a file): {how}.")
    if kind == "owner":
        raise PermissionError(
            f"The device slot folder {str(folder)!r} belongs to uid {detail}, not to this account "
            f"(uid {os.getuid()}), which could then take or delete its locks: {how}."
        )
    raise PermissionError(
        f"The device slot folder {str(folder)!r} has mode {detail:o}: other accounts "
        f"may write to it, and so take or delete its locks. Run `chmod 700 {folder}`, or {how}."
    )


def _holder_path(lock_path):
    return lock_path.with_suffix(".holder")


def _write_holder(lock_path):
    """Note in a file beside the lock who holds it, for the timeout error of the fits that wait."""
    text = f"pid {os.getpid()} on {socket.gethostname()} since {datetime.datetime.now().strftime('%H:%M:%S')}"
    with contextlib.suppress(OSError):
        fd = os.open(_holder_path(lock_path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)


def _read_holder(lock_path):
    try:
        return _holder_path(lock_path).read_text()[:200] or None
    except OSError:
        return None


@dataclass(frozen=True)
class Placement:
    """Where one fit trains.

    Attributes
    ----------
    device : torch.device
        The device, as this process addresses it.
    uuid : str or None
        The GPU's UUID (``'GPU-...'``, as ``nvidia-smi -L`` prints it); None
        on the CPU.
    slot : str or None
        The pool slot the fit holds, ``'<uuid or cpu>#<k>'``; None when the
        fit took no slot (a pinned device, or ``'auto'`` without a GPU).
    """

    device: torch.device
    uuid: str | None = None
    slot: str | None = None


class DevicePool:
    """Devices that the fits of a search share, each fit holding one slot while it trains.

    Pass it as the ``device`` param of any skbatch estimator. Each ``fit``
    waits for a free slot, trains on that slot's device, moves the network
    back to the CPU and hands the slot back. Slots are file locks on the
    local disk, so fits in joblib's worker processes (loky), in threads and
    in Dask workers on one machine never hold the same slot, and a worker
    that dies frees its slot with it.

    Parameters
    ----------
    devices : 'auto' or list of str, default='auto'
        ``'auto'`` is every GPU this process sees; where there is none,
        fits train on the CPU without taking a slot. A list names the
        devices: ``['cuda:0', 'cuda:1']``, or ``'cpu'`` for slots that
        limit how many fits train on the CPU at once. A device named twice
        gets twice the slots.
    fits_per_device : int, default=1
        Slots per device: more than one lets small models share a GPU. The
        first fits spread over distinct devices before any device takes a
        second fit.
    timeout : float or None, default=None
        Seconds a fit waits for a free slot before it raises
        ``TimeoutError``; None waits as long as it takes.
    lock_dir : str or path-like or None, default=None
        Folder of the lock files, one per slot. None is
        ``/tmp/skbatch-<uid>/device-slots``, private to this account
        (mode 0700) whatever ``$TMPDIR`` or ``$USER`` say. Every process
        that shares the devices must use the same folder, so give an
        absolute path; it must be on a local disk, since network
        filesystems may not honour the locks. A folder owned by another
        account, or writable by others, is refused: they could take or
        delete the locks.

    See Also
    --------
    place_fit : Take a slot for one fit.

    Notes
    -----
    A GPU is identified by its UUID, not its index: two Dask-CUDA workers
    that each see their own GPU as ``cuda:0`` hold different locks, and two
    processes that both see all GPUs contend for the same ones. Slots are
    counted per device: fits of two pools that name the same GPU share its
    slots.

    Examples
    --------
    >>> from skbatch import DevicePool, MLPClassifier
    >>> pool = DevicePool(["cpu"], fits_per_device=2)
    >>> MLPClassifier(device=pool)
    MLPClassifier(device=DevicePool(devices=['cpu'], fits_per_device=2))
    """

    _parameter_constraints: dict = {
        "devices": [StrOptions({"auto"}), list, tuple],
        "fits_per_device": [Interval(Integral, 1, None, closed="left")],
        "timeout": [Interval(Real, 0, None, closed="left"), None],
        "lock_dir": [str, os.PathLike, None],
    }

    def __init__(self, devices="auto", *, fits_per_device=1, timeout=None, lock_dir=None):
        self.devices = devices
        self.fits_per_device = fits_per_device
        self.timeout = timeout
        self.lock_dir = lock_dir

    def _params(self):
        return {name: getattr(self, name) for name in self._parameter_constraints}

    def __repr__(self):
        defaults = DevicePool()._params()
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items() if v != defaults[k])
        return f"DevicePool({args})"

    def __eq__(self, other):
        return type(other) is type(self) and self._params() == other._params()

    def __hash__(self):
        devices = self.devices if isinstance(self.devices, str) else tuple(self.devices)
        return hash((devices, self.fits_per_device, self.timeout, str(self.lock_dir)))

    def _validate(self):
        validate_parameter_constraints(self._parameter_constraints, self._params(), caller_name="DevicePool")

    def _resolve(self):
        """Return the pool's devices in this process; empty where 'auto' finds no GPU."""
        self._validate()
        if isinstance(self.devices, str):
            return _visible_gpus()
        if not self.devices:
            raise ValueError(
                "DevicePool(devices=[]) names no device. Name at least one, such as "
                "devices=['cuda:0'], or use devices='auto' for every visible GPU."
            )
        return [_resolve_entry(entry) for entry in self.devices]

    def slots(self):
        """Names of the slots, in the order a fit tries them.

        Returns
        -------
        list of str
            ``'<uuid or cpu>#<k>'`` for each device and each of its
            ``fits_per_device`` slots; round-robin over devices, so that
            concurrent fits spread over distinct devices first.

        Raises
        ------
        ValueError
            If a named device does not exist here.
        """
        return [name for _, name in self._slot_table(self._resolve())]

    def _slot_table(self, devices):
        seen = {}
        table = []
        for k in range(self.fits_per_device):
            for device in devices:
                # A device named twice gets slots of its own, after those of its first mention.
                index = seen.get(device.key, 0)
                seen[device.key] = index + 1
                table.append((device, f"{device.key}#{index}"))
        return table

    @contextlib.contextmanager
    def hold(self):
        """Wait for a free slot, hold it for the block, then give it back.

        Yields
        ------
        Placement
            The slot's device, the device's UUID and the slot's name. Where
            ``devices='auto'`` finds no GPU, the CPU without a slot.

        Raises
        ------
        TimeoutError
            If no slot came free within ``timeout`` seconds.
        """
        devices = self._resolve()
        if not devices:
            yield Placement(torch.device("cpu"))
            return
        table = self._slot_table(devices)
        if self.lock_dir is not None:
            lock_dir = _private_folder(self.lock_dir, param=True)
        else:
            lock_dir = _private_folder(_default_lock_dir(), param=False)
        device, name, lock = self._wait_for_slot(table, lock_dir)
        try:
            yield Placement(device.torch_device, device.uuid, name)
        finally:
            with contextlib.suppress(OSError):
                _holder_path(Path(lock.lock_file)).unlink()
            lock.release()

    def _wait_for_slot(self, table, lock_dir):
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            for device, name in table:
                # A fresh lock object per attempt: filelock objects are re-entrant,
                # so one shared between threads would let both "hold" the slot.
                path = lock_dir / _lock_file_name(name)
                # 0600: a lock file others can open, they can flock, and stall our fits.
                lock = filelock.FileLock(path, timeout=0, thread_local=False, mode=0o600)
                try:
                    lock.acquire()
                except filelock.Timeout:
                    continue
                if stat.S_IMODE(os.stat(path).st_mode) != 0o600:  # made by an older version
                    os.chmod(path, 0o600)
                _write_holder(path)
                return device, name, lock
            if deadline is not None and time.monotonic() >= deadline:
                holders = [
                    f"{name} by {holder}" for _, name in table if (holder := _read_holder(lock_dir / _lock_file_name(name))) is not None
                ]
                raise TimeoutError(
                    f"No free slot in {self!r} after waiting {self.timeout} s: all "
                    f"{len(table)} slots are held by other fits"
                    + (f" ({'; '.join(holders)})" if holders else "")
                    + f", in {str(lock_dir)!r}. Raise the pool's timeout "
                    "(None waits as long as it takes), add devices or fits_per_device, "
                    "or lower the search's n_jobs."
                )
            time.sleep(_POLL_INTERVAL)


def _lock_file_name(slot_name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", slot_name) + ".lock"


def _resolve_entry(entry):
    name = str(entry) if isinstance(entry, torch.device) else entry
    if name == "cpu":
        return _Device(torch.device("cpu"), None)
    match = _CUDA_PATTERN.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(f"Each entry of DevicePool's 'devices' must be 'cpu', 'cuda' or 'cuda:N'. Got {entry!r} instead.")
    gpus = _visible_gpus()
    if not gpus:
        raise ValueError(
            f"DevicePool names {name!r}, but {_no_cuda_reason()}. Use "
            "DevicePool(devices='auto') to train on the GPUs only where there are some, "
            "or name 'cpu' slots."
        )
    index = int(match.group(1) or 0)
    if index >= len(gpus):
        raise ValueError(
            f"DevicePool names {name!r}, a GPU that does not exist: this process sees "
            f"{len(gpus)} CUDA device(s), cuda:0 to cuda:{len(gpus) - 1}."
        )
    return gpus[index]


@contextlib.contextmanager
def place_fit(device):
    """Decide where one fit trains, holding a pool slot for the block where there is one.

    Parameters
    ----------
    device : str, torch.device or DevicePool
        An estimator's ``device`` param. ``'auto'`` is ``DevicePool('auto')``:
        a slot on one of the visible GPUs, or the CPU without a slot where
        there is none. A pinned device (``'cpu'``, ``'cuda:1'``) takes no
        slot.

    Yields
    ------
    Placement
    """
    if isinstance(device, str) and device == "auto":
        device = DevicePool()
    if isinstance(device, DevicePool):
        with device.hold() as placement:
            yield placement
        return
    resolved = resolve_device(device)
    uuid = None
    if resolved.type == "cuda":
        gpus = _visible_gpus()
        uuid = gpus[resolved.index].uuid if resolved.index < len(gpus) else None
    yield Placement(resolved, uuid)


class _ThreadShare:
    lock = threading.Lock()
    active = 0
    budget = None


def _share():
    return max(1, _ThreadShare.budget // _ThreadShare.active)


@contextlib.contextmanager
def cpu_thread_share():
    """Give the fit in this thread its share of the process's torch threads.

    Worker processes need nothing more: loky and Dask's nanny cap each
    worker's threads (``OMP_NUM_THREADS``) before torch starts. Fits that
    run in threads of one process (joblib's threading backend, a Dask worker
    with several threads) would each use every core, so each takes the
    process's thread count divided by the number of fits running at once,
    and :class:`ThreadShareRebalance` updates it every epoch as fits come and
    go. The thread's own count is restored after.

    Yields
    ------
    int
        Torch threads of this fit when it starts.
    """
    before = torch.get_num_threads()
    with _ThreadShare.lock:
        if _ThreadShare.active == 0:
            _ThreadShare.budget = before
        _ThreadShare.active += 1
        share = _share()
    torch.set_num_threads(share)
    try:
        yield share
    finally:
        with _ThreadShare.lock:
            _ThreadShare.active -= 1
        torch.set_num_threads(before)


def _rebalance():
    # torch's thread count is per OS thread (OpenMP), so each fit sets its own.
    with _ThreadShare.lock:
        if _ThreadShare.active == 0:
            return
        share = _share()
    if torch.get_num_threads() != share:
        torch.set_num_threads(share)


class ThreadShareRebalance(Callback):
    """skorch callback: at each epoch, take this fit's current share of the CPU threads.

    A fit that started alone holds every thread; when a second fit starts
    in another thread, the first gives half back at its next epoch.
    """

    def on_epoch_begin(self, net, **kwargs):
        _rebalance()
