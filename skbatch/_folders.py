"""The one rule for the folders whose contents skbatch trusts: this account's own, and no one else may write to them.

The fit cache returns the models it finds in its folder, and the device
pool's locks decide which fit holds which device: whoever else can write
there can plant a model or take a device. Each caller words its own error;
the rule itself is here.
"""

import os
import stat

__all__ = ["tamper_risk"]


def tamper_risk(folder, *, follow=False):
    """How another account could change what ``folder`` holds; None if it cannot.

    Parameters
    ----------
    folder : str or path-like
        The folder to check.
    follow : bool, default=False
        Whether a link to a folder counts as the folder it points to (a
        folder the user named) or as something other than a folder (one
        that skbatch made).

    Returns
    -------
    risk : tuple or None
        ``("not a folder", None)`` for a file or, unless ``follow``, a link;
        ``("owner", uid)`` where another account owns it; ``("mode", mode)``
        where its group or others may write to it. None where the folder
        passes, does not exist, or on Windows, which has no uids: there a
        folder's ACL is the user's to set.
    """
    if not hasattr(os, "getuid"):
        return None
    try:
        info = os.stat(folder) if follow else os.lstat(folder)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(info.st_mode):
        return ("not a folder", None)
    if info.st_uid != os.getuid():
        return ("owner", info.st_uid)
    if info.st_mode & 0o022:
        return ("mode", stat.S_IMODE(info.st_mode))
    return None
