"""The one exception type for mistakes a user can fix (paths, configs, data, checkpoints), and
the one for runs that stopped early but can be continued; `refuse_unknown_keys` raises the
first for a config dict with unknown keys.

Entry points (tools/train.py, tools/test.py, run_experiments.py, converters) catch them and
print their message alone, without a stack trace, then exit with status 1 (`UserError`) or 75
(`RetryableStop`).
"""
import difflib

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


def refuse_unknown_keys(section, known, where):
    """Raise a UserError naming each key of the config dict `section` (found at the dotted
    path `where`, e.g. 'uda.plf') that is not in `known`, with the closest known key, in the
    style of the errors for unknown keyword arguments of registered classes."""
    known = list(known)
    unknown = [key for key in section if key not in known]
    if not unknown:
        return
    hints = {key: difflib.get_close_matches(key, known, n=1) for key in unknown}
    if len(unknown) == 1:
        key, hint = unknown[0], hints[unknown[0]]
        named = f"unknown config key '{where}.{key}'." + \
            (f" Did you mean '{hint[0]}'?" if hint else '')
    else:
        named = 'unknown config keys ' + ', '.join(
            f"'{where}.{key}'" + (f" (did you mean '{hints[key][0]}'?)" if hints[key] else '')
            for key in unknown) + '.'
    raise UserError(f'{named} Valid keys of {where}: {", ".join(known)}')
