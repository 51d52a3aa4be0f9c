"""The rule the fit cache and the device pool share for the folders they trust (skbatch._folders)."""

import os

import pytest

from skbatch._folders import tamper_risk

pytestmark = pytest.mark.skipif(not hasattr(os, "getuid"), reason="Windows has no uids: the rule leaves folders to their ACLs")


def test_a_private_folder_of_this_account_or_none_at_all_passes(tmp_path):
    folder = tmp_path / "own"
    folder.mkdir(mode=0o700)
    assert tamper_risk(folder) is None
    assert tamper_risk(tmp_path / "missing") is None


def test_a_folder_others_may_write_is_a_risk(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o770)
    assert tamper_risk(folder) == ("mode", 0o770)


def test_a_file_is_not_a_folder_and_a_link_is_one_only_when_followed(tmp_path):
    (tmp_path / "file").write_text("")
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)
    assert tamper_risk(tmp_path / "file") == ("not a folder", None)
    assert tamper_risk(tmp_path / "link") == ("not a folder", None)
    assert tamper_risk(tmp_path / "link", follow=True) is None


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="only root can give a folder away")
def test_a_folder_another_account_owns_is_a_risk(tmp_path):
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(folder, 12345, -1)
    assert tamper_risk(folder) == ("owner", 12345)
