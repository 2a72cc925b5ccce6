"""The one exception type for mistakes a user can fix (paths, configs, data, checkpoints).

Entry points (tools/train.py, tools/test.py, run_experiments.py, converters) catch it and print
its message alone, without a stack trace, then exit with status 1.
"""


class UserError(RuntimeError):
    """An error caused by user input; its message names the culprit and the fix."""


def run_cli(main, argv=None):
    """Call `main(argv)`; a `UserError` prints `error: <message>` on stderr and exits with 1."""
    import sys
    try:
        return main(argv)
    except UserError as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(1)
