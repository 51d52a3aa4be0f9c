"""Device slots are private to the account that runs the fits, and a wait says who holds them."""

import os
import stat
import tempfile

import pytest

from skbatch import DevicePool
from skbatch.devices import pool as pool_module


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_default_folder_is_keyed_by_uid_not_by_the_environment(monkeypatch, tmp_path):
    expected = pool_module._default_lock_dir()
    assert str(os.getuid()) in str(expected)
    monkeypatch.setenv("USER", "someone-else")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert pool_module._default_lock_dir() == expected


def test_the_default_folder_is_made_0700_and_its_lock_files_0600(monkeypatch, tmp_path):
    folder = tmp_path / "skbatch-uid" / "device-slots"
    monkeypatch.setattr(pool_module, "_default_lock_dir", lambda: folder)
    with DevicePool(["cpu"]).hold() as placement:
        assert placement.slot == "cpu#0"
        [lock] = folder.glob("*.lock")
        assert _mode(lock) == 0o600
    assert _mode(folder) == 0o700 and _mode(folder.parent) == 0o700


def test_a_lock_file_left_readable_by_others_is_made_private(tmp_path):
    tmp_path.chmod(0o700)
    lock = tmp_path / "cpu_0.lock"
    lock.touch(mode=0o644)
    lock.chmod(0o644)
    with DevicePool(["cpu"], lock_dir=tmp_path).hold():
        assert _mode(lock) == 0o600


@pytest.mark.parametrize("default", [True, False], ids=["default", "lock_dir"])
def test_a_folder_others_can_write_is_refused(monkeypatch, tmp_path, default):
    folder = tmp_path / "slots"
    folder.mkdir()
    folder.chmod(0o777)
    monkeypatch.setattr(pool_module, "_default_lock_dir", lambda: folder)
    pool = DevicePool(["cpu"]) if default else DevicePool(["cpu"], lock_dir=folder)
    with pytest.raises(PermissionError, match=f"{folder}.*mode 777.*other accounts may write.*chmod 700"):
        with pool.hold():
            pass


def test_a_folder_of_another_account_is_refused(tmp_path):
    # The tests run as root, which may give a folder away (and ignores modes).
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    other = os.getuid() + 4242
    os.chown(folder, other, -1)
    with pytest.raises(PermissionError, match=f"{folder}.*belongs to uid {other}.*lock_dir"):
        with DevicePool(["cpu"], lock_dir=folder).hold():
            pass


def test_a_timeout_says_who_holds_the_slot(tmp_path):
    tmp_path.chmod(0o700)
    with DevicePool(["cpu"], lock_dir=tmp_path).hold():
        with pytest.raises(TimeoutError, match=rf"held by other fits \(cpu#0 by pid {os.getpid()} on "):
            with DevicePool(["cpu"], timeout=0.1, lock_dir=tmp_path).hold():
                pass
    assert not list(tmp_path.glob("*.holder"))  # gone with the slot
