"""Print a config with every `_base_` file and command-line override resolved.

Usage: python tools/print_config.py CONFIG [--cfg-options key=value ...]

Configs inherit through several `_base_` levels (runtime, model, data, UDA, schedule), so
the value a run will use is often not in the file that was edited; this prints the final
one. A missing file, a broken config or an override that cannot be applied is reported in
one line on stderr with exit status 1.
"""
import argparse
import os
import sys
from typing import List, NoReturn, Optional

import mmseg  # noqa: F401  (before mmcv: it silences mmcv's 2.0 notice)
from mmcv import Config, DictAction

from mmseg.utils.errors import UserError


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error convention: one line, exit status 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f'error: {message} (see --help)\n')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = _Parser(description='Print the fully resolved config.')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='override config keys, e.g. uda.plf=None model.backbone.type=mit_b0 '
        'data.train.rare_class_sampling.min_crop_ratio=0.5 (lists: key=[a,b])')
    parser.add_argument(
        '--options',
        nargs='+',
        action=DictAction,
        default={},
        help='same as --cfg-options (the name MMSegmentation 0.x and MIC use)')
    try:
        return parser.parse_args(argv)
    except ValueError as err:  # DictAction: an item without '='
        parser.error(f'bad override ({err}); write overrides as key=value')


def load_config(path: str, overrides: Optional[dict] = None) -> Config:
    """Read `path` with its `_base_` files and apply dotted-key `overrides`.

    Raises:
        UserError: the file (or one of its bases) is missing or invalid, or an override
            cannot be merged (e.g. it descends into a key that is not a dict).
    """
    if not os.path.isfile(path):
        raise UserError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except FileNotFoundError as err:  # a missing _base_ file
        raise UserError(f'cannot load config {path}: {err}') from err
    except (SyntaxError, KeyError, TypeError, ValueError, NameError,
            OSError) as err:
        raise UserError(f'cannot load config {path}: '
                        f'{type(err).__name__}: {err}') from err
    if overrides:
        try:
            cfg.merge_from_dict(overrides)
        except (KeyError, TypeError, IndexError) as err:
            raise UserError(f'cannot apply override {overrides}: {err}') from err
    return cfg


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.config, {**args.options, **args.cfg_options})
    except UserError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(cfg.pretty_text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
