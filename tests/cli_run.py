"""``run_main``: the command line run in this process, as the command-line tests call it."""

from skbatch import cli


def run_main(argv, capsys):
    """Run ``skbatch`` with ``argv`` (each item made a string); return ``(status, stdout, stderr)``."""
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err
