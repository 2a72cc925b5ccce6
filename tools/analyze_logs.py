"""Plot training curves from mmcv JSON logs (`<work_dir>/<timestamp>.log.json`).

    python tools/analyze_logs.py RUN.log.json [MORE.log.json] \
        --keys decode.loss_seg mix.decode.loss_seg mIoU --out curves.png

Any numeric key of the train or val lines can be plotted (loss terms, `lr`, `mIoU`, `IoU.<cls>`,
`plf.*`, `fpc.*`, ...), one panel per key, one line per log. `--preset pcpr` plots the curves
that say what PCPR does (those of `PCPR_CURVES` that every log has): how many target pixels
the filter keeps and how accurate the pseudo-labels are before and after it, how close anchors
are to their prototypes and how close the classes' prototypes are to each other.

    python tools/analyze_logs.py work_dirs/*/2*.log.json --preset pcpr --out pcpr_curves.png
"""
import argparse
import os.path as osp
import sys
from typing import Optional, Sequence

if __package__ in (None, ''):  # `python tools/analyze_logs.py` from the repository root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmseg.utils.errors import UserError, run_cli  # noqa: E402
from mmseg.utils.json_log import Curves, load_json_log  # noqa: E402


# PCPR's diagnostic curves (`--preset pcpr`); the accuracies need data.train.debug_gt=True.
PCPR_CURVES = ('plf.kept', 'plf.acc_before', 'plf.acc_after', 'plf.m_cons', 'plf.m_proto',
               'src.fpc.mean_sim', 'mix.fpc.mean_sim', 'fpc.inter_class_sim', 'mIoU')


def preset_keys(logs: Sequence[Curves], preset: str) -> list:
    """The preset's keys that every log has; an error when it has no PCPR key (mIoU alone)."""
    keys = [k for k in PCPR_CURVES if all(k in curves for curves in logs)]
    if keys in ([], ['mIoU']):
        raise UserError(f'--preset {preset}: none of {", ".join(PCPR_CURVES)} is in the logs '
                        '(are they PCPR runs?)')
    return keys


def plot_curve(logs: Sequence[Curves], keys: Sequence[str], names: Sequence[str],
               out: Optional[str] = None, title: Optional[str] = None) -> None:
    """One panel per key (shared iteration axis), one line per log named by `names`.

    Saves to `out` (any matplotlib format) or shows the figure when `out` is None.
    """
    import matplotlib
    if out is not None:
        matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(keys), 1, sharex=True, squeeze=False,
                             figsize=(8, 2.5 * len(keys) + 0.5))
    for ax, key in zip(axes[:, 0], keys):
        for curves, name in zip(logs, names):
            xs, ys = curves[key]
            ax.plot(xs, ys, marker='o' if len(xs) < 20 else None, label=name)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize='small')
    axes[-1, 0].set_xlabel('iter')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if out is None:
        plt.show()
    else:
        fig.savefig(out)
        print(f'saved {out}')
    plt.close(fig)


def check_keys(logs: Sequence[Curves], paths: Sequence[str], keys: Sequence[str]) -> None:
    """Every requested key must be in every log; the error lists the keys that are there."""
    for curves, path in zip(logs, paths):
        missing = [k for k in keys if k not in curves]
        if missing:
            raise UserError(f'{path} has no key {", ".join(missing)}. '
                            f'Available keys: {", ".join(sorted(curves))}')


def parse_args(args):
    parser = argparse.ArgumentParser(description='Plot curves from mmcv JSON logs')
    parser.add_argument('json_logs', nargs='+', help='*.log.json files')
    parser.add_argument('--keys', nargs='+', default=['mIoU'],
                        help='keys to plot, e.g. decode.loss_seg mIoU')
    parser.add_argument('--preset', choices=['pcpr'],
                        help="plot a key set instead of --keys: 'pcpr' = PCPR_CURVES")
    parser.add_argument('--legend', nargs='+', help='one name per log (default: file names)')
    parser.add_argument('--title', help='figure title')
    parser.add_argument('--out', help='output image (default: show the figure)')
    return parser.parse_args(args)


def main(args=None):
    args = parse_args(sys.argv[1:] if args is None else args)
    names = args.legend or [osp.basename(p) for p in args.json_logs]
    if len(names) != len(args.json_logs):
        raise UserError(f'--legend has {len(names)} names for {len(args.json_logs)} logs; '
                        'give one name per log.')
    logs = [load_json_log(p) for p in args.json_logs]
    keys = preset_keys(logs, args.preset) if args.preset else args.keys
    check_keys(logs, args.json_logs, keys)
    plot_curve(logs, keys, names, args.out, args.title)


def cli(args=None):
    """Run `main`, turning user errors into one message on stderr and exit status 1."""
    run_cli(main, args)


if __name__ == '__main__':
    cli()
