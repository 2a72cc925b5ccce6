"""The one exception type for mistakes a user can fix (paths, configs, data, checkpoints).

Entry points (tools/train.py, tools/test.py, run_experiments.py, converters) catch it and print
its message alone, without a stack trace, then exit with status 1.
"""


class UserError(RuntimeError):
    """An error caused by user input; its message names the culprit and the fix."""
