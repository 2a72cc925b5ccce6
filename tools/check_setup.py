"""Check a config's setup before training: data folders, label pairs and ids, RCS stats,
pretrained weights, free disk and GPU memory.

    python tools/check_setup.py CONFIG [--cfg-options data.train.source.data_root=...] [--cheap]

Prints the file counts per dataset, then one `error:` line per problem with its fix; the exit
status is 1 when there is a problem. tools/train.py runs the cheap variant at start-up
(`--no-check-setup` or `check_setup = False` in the config switch it off).
"""
import argparse
import logging
import os.path as osp
import sys

if __package__ in (None, ''):  # `python tools/check_setup.py` from the repository root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmseg  # noqa: E402,F401  (before mmcv: it silences mmcv's 2.0 notice)
from mmcv.utils import DictAction  # noqa: E402

from mmseg.utils import get_root_logger  # noqa: E402
from mmseg.apis.config_checks import load_config  # noqa: E402
from mmseg.utils.errors import run_cli  # noqa: E402
from mmseg.apis.setup_check import check_setup  # noqa: E402


def parse_args(args):
    parser = argparse.ArgumentParser(description='Check data, stats and weights of a config')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where checkpoints will go (for the disk check)')
    parser.add_argument('--cheap', action='store_true',
                        help='the quick variant run by tools/train.py (2 labels per dataset, '
                             'no stats samples, pretrained file presence only)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as for tools/train.py')
    return parser.parse_args(args)


def main(args=None) -> int:
    args = parse_args(sys.argv[1:] if args is None else args)
    cfg = load_config(args.config, args.cfg_options)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    get_root_logger(log_level=logging.WARNING)  # the datasets' loading messages
    report = []
    problems = check_setup(cfg, cheap=args.cheap, report=report)
    for line in report:
        print(line)
    for problem in problems:
        print(f'error: {problem}', file=sys.stderr)
    print(f'{len(problems)} problem(s) found.' if problems else 'setup OK.')
    return 1 if problems else 0


def cli(args=None):
    sys.exit(run_cli(main, args))


if __name__ == '__main__':
    cli()
