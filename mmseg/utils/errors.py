"""The one exception type for mistakes a user can fix (paths, configs, data, checkpoints), and
the one for runs that stopped early but can be continued.

Entry points (tools/train.py, tools/test.py, run_experiments.py, converters) catch them and
print their message alone, without a stack trace, then exit with status 1 (`UserError`) or 75
(`RetryableStop`).
"""

EX_TEMPFAIL = 75  # sysexits.h: "temporary failure; the user is invited to retry"


class UserError(RuntimeError):
    """An error caused by user input; its message names the culprit and the fix."""


class RetryableStop(Exception):
    """A run stopped before its end in a state it continues from (e.g. preempted); the exit
    status EX_TEMPFAIL tells a job script to requeue it."""


def run_cli(main, argv=None):
    """Call `main(argv)`; a `UserError` prints `error: <message>` on stderr and exits with 1,
    a `RetryableStop` prints its message and exits with 75."""
    import sys
    try:
        return main(argv)
    except UserError as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(1)
    except RetryableStop as stop:
        print(stop, file=sys.stderr)
        sys.exit(EX_TEMPFAIL)
