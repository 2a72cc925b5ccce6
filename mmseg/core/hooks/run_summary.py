"""A one-page picture of a finished run, written next to its checkpoints."""
import os.path as osp
from typing import Dict, List, Optional

from mmcv.runner import HOOKS, Hook, master_only

from ...utils.json_log import Curves, load_json_log

SUMMARY_FILE = 'run_summary.png'
# Panels of the summary: a title and the rule that picks the log keys shown in it.
PANELS = (
    ('loss terms', lambda key: 'loss' in key),
    ('validation mIoU', lambda key: key == 'mIoU'),
    ('pseudo-label statistics', lambda key: key.startswith('plf.')),
    ('learning rate', lambda key: key == 'lr'),
)


def panel_keys(curves: Curves) -> Dict[str, List[str]]:
    """{panel title: sorted keys of `curves` it shows}; empty panels are left out."""
    panels = {title: sorted(k for k in curves if rule(k)) for title, rule in PANELS}
    return {title: keys for title, keys in panels.items() if keys}


def plot_run_summary(curves: Curves, out: str, title: Optional[str] = None) -> List[str]:
    """Draw every panel of `curves` on one page (2 columns) into `out`; return the keys shown."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = panel_keys(curves)
    rows = max(1, (len(panels) + 1) // 2)
    fig, axes = plt.subplots(rows, 2, squeeze=False, figsize=(11, 3.2 * rows + 0.6))
    for ax, (name, keys) in zip(axes.flat, panels.items()):
        for key in keys:
            xs, ys = curves[key]
            ax.plot(xs, ys, marker='o' if len(xs) < 20 else None, label=key)
        ax.set_title(name)
        ax.set_xlabel('iter')
        ax.grid(alpha=0.3)
        ax.legend(fontsize='x-small', ncol=2)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis('off')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return [key for keys in panels.values() for key in keys]


@HOOKS.register_module()
class RunSummaryHook(Hook):
    """After training, plot the run's `*.log.json` (loss terms, mIoU, plf statistics, lr)
    into `<work_dir>/run_summary.png`, so that a run can be judged at a glance."""

    @master_only
    def after_run(self, runner) -> None:
        log = osp.join(runner.work_dir, f'{runner.timestamp}.log.json')
        if not osp.isfile(log):
            runner.logger.warning(f'no {log}: no run summary (is TextLoggerHook configured?)')
            return
        out = osp.join(runner.work_dir, SUMMARY_FILE)
        plot_run_summary(load_json_log(log), out, title=runner.meta.get('exp_name') if runner.meta else None)
        runner.logger.info(f'run summary: {out}')
