"""The synthetic domain-shift benchmark: every method, several seeds, the same budget.

Why: the expected order source_only < mic <= pcpr < target_oracle (benchmarks.md §1) is only
evidence when it holds across seeds, so each (method, seed) is a real, separate training run.

    python tools/benchmark_synthetic.py --methods source_only,mic,pcpr,target_oracle \
        --seeds 0,1,2 [--iters N] [--out work_dirs/benchmark_synthetic] [--jobs 2]

A method name M is the config configs/demo/M_synthetic.py. Each run is tools/train.py in a
subprocess with its own work dir (<out>/runs/<method>_seed<k>) and `--seed k`; its final target
val mIoU and PCPR's pseudo-label statistics are read from the run's JSON log. Prints a table
(mean +- sample std over seeds), writes <out>/results.json (updated after every run) and
<out>/benchmark_synthetic.png. Runs whose log already holds a final mIoU are reused unless
--rerun is given, so an interrupted benchmark continues where it stopped.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

if __package__ in (None, ''):  # run as a script: make `tools` importable from the repo root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from tools.demo import (REPO_ROOT, DataSpec, data_root_options, log,  # noqa: E402
                        prepare_data, read_log, schedule_options, train)

CONFIG_PATTERN = osp.join(REPO_ROOT, 'configs', 'demo', '{}_synthetic.py')
PLF_KEYS = ('plf.acc_before', 'plf.acc_after', 'plf.kept')


def config_of(method: str) -> str:
    return CONFIG_PATTERN.format(method)


def plan_runs(methods: Sequence[str], seeds: Sequence[int], args: argparse.Namespace
              ) -> List[Dict]:
    """One entry per (method, seed) with the config, iterations and `--cfg-options`.

    Resolved up front in the main thread: mmcv's Config.fromfile is not thread-safe.
    """
    from mmseg.utils.config_checks import load_config

    per_method = {}
    for method in methods:
        config = config_of(method)
        iters = args.iters or load_config(config).runner.max_iters
        options = data_root_options(config, args.data_root) + schedule_options(iters, 50)
        per_method[method] = dict(config=config, iters=iters, options=options)
    return [dict(method=m, seed=s, work_dir=osp.join(args.out, 'runs', f'{m}_seed{s}'),
                 **per_method[m]) for s in seeds for m in methods]


def run_one(plan: Dict, rerun: bool, threads: int) -> Dict:
    """Train one planned run (unless a finished one is in its work dir); read its results."""
    method, seed, work_dir = plan['method'], plan['seed'], plan['work_dir']
    tag = f'[{method} seed {seed}]'
    if not rerun and osp.isdir(work_dir):
        try:
            done = read_log(work_dir)
        except Exception:  # no or unreadable log: train again
            done = dict(mIoU=None)
        if done['mIoU'] is not None:
            log(f'{tag} reusing the finished run in {work_dir}')
            return dict(method=method, seed=seed, work_dir=work_dir, **done)
    start = time.time()
    train(plan['config'], work_dir, seed, plan['options'], threads, prefix=tag)
    result = dict(method=method, seed=seed, work_dir=work_dir, iters=plan['iters'],
                  seconds=round(time.time() - start, 1), **read_log(work_dir))
    log(f"{tag} target mIoU {100 * result['mIoU']:.2f} ({result['seconds']:.0f} s)")
    return result


def summarise(runs: Sequence[Dict], methods: Sequence[str]) -> Dict[str, Dict]:
    """Per method: n, mean and sample std (0 for one seed) of the mIoU in %, mean PLF stats."""
    summary = {}
    for method in methods:
        done = [r for r in runs if r['method'] == method and r.get('mIoU') is not None]
        if not done:
            continue
        miou = [100 * r['mIoU'] for r in done]
        entry = dict(n=len(miou), seeds=[r['seed'] for r in done], mIoU=miou,
                     mean=statistics.mean(miou),
                     std=statistics.stdev(miou) if len(miou) > 1 else 0.0)
        for key in PLF_KEYS:
            values = [100 * r[key] for r in done if key in r]
            if values:
                entry[key] = statistics.mean(values)
        summary[method] = entry
    return summary


def format_table(summary: Dict[str, Dict]) -> str:
    header = (f"{'method':<22} {'seeds':>5} {'target mIoU':>16} {'PL acc before':>14} "
              f"{'PL acc after':>13} {'kept':>7}")
    lines = [header, '-' * len(header)]
    for method, s in summary.items():
        extra = [f"{s[k]:.1f}" if k in s else '-' for k in PLF_KEYS]
        lines.append(f"{method:<22} {s['n']:>5} {s['mean']:>8.2f} +- {s['std']:<5.2f} "
                     f"{extra[0]:>14} {extra[1]:>13} {extra[2]:>7}")
    lines.append('mIoU in %, mean +- sample std over seeds; PL acc = PCPR pseudo-label accuracy '
                 '(%) on labelled target pixels before filtering / on the kept pixels, and '
                 'kept = % of pixels with weight > 0, each averaged over the second half of '
                 'training.')
    return '\n'.join(lines)


def plot(summary: Dict[str, Dict], path: str, title: str) -> None:
    """Bars of mean target mIoU (+- std, one dot per seed); PCPR's PL accuracy beside them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    methods = list(summary)
    plf = [m for m in methods if 'plf.acc_before' in summary[m]]
    fig = Figure(figsize=(4 + 1.3 * len(methods) + 1.6 * len(plf), 4))
    FigureCanvasAgg(fig)
    widths = [len(methods)] + ([max(1.2 * len(plf), 1.5)] if plf else [])
    axs = fig.subplots(1, len(widths), squeeze=False, gridspec_kw=dict(width_ratios=widths))[0]
    ax = axs[0]
    xs = range(len(methods))
    ax.bar(xs, [summary[m]['mean'] for m in methods],
           yerr=[summary[m]['std'] for m in methods], capsize=4, color='#4c72b0', alpha=0.85)
    for x, m in zip(xs, methods):
        ax.scatter([x] * summary[m]['n'], summary[m]['mIoU'], color='black', s=10, zorder=3)
        ax.text(x, summary[m]['mean'] + summary[m]['std'] + 0.5,
                f"{summary[m]['mean']:.1f}", ha='center', va='bottom', fontsize=9)
    ax.set_ylim(0, 1.12 * max(summary[m]['mean'] + summary[m]['std'] for m in methods))
    ax.set_xticks(list(xs))
    ax.set_xticklabels(methods, rotation=20)
    ax.set_ylabel('target val mIoU (%)')
    ax.set_title(title, fontsize=10)
    if plf:
        ax2 = axs[1]
        width = 0.38
        for i, m in enumerate(plf):
            for j, (key, label, colour) in enumerate(
                    (('plf.acc_before', 'before', '#dd8452'), ('plf.acc_after', 'after',
                                                               '#55a868'))):
                ax2.bar(i + (j - 0.5) * width, summary[m][key], width, color=colour,
                        label=label if i == 0 else None)
        ax2.set_xticks(range(len(plf)))
        ax2.set_xticklabels(plf)
        lows = [summary[m][k] for m in plf for k in PLF_KEYS[:2]]
        ax2.set_ylim(max(0.0, min(lows) - 10), 100)
        ax2.set_ylabel('pseudo-label accuracy (%)')
        ax2.set_title('filtering (PLF)', fontsize=10)
        ax2.legend(fontsize=8, loc='lower right')
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    spec = DataSpec()
    parser = argparse.ArgumentParser(description='Train every method on the synthetic '
                                     'domain-shift benchmark with several seeds and compare.')
    parser.add_argument('--methods', default='source_only,mic,pcpr,target_oracle',
                        help='comma-separated; M means configs/demo/M_synthetic.py')
    parser.add_argument('--seeds', default='0,1,2', help='comma-separated training seeds')
    parser.add_argument('--iters', type=int, default=None,
                        help="iterations per run (default: each config's runner.max_iters)")
    parser.add_argument('--out', default='work_dirs/benchmark_synthetic',
                        help='folder for runs/, results.json and the plot')
    parser.add_argument('--data-root', default='data/demo', help='synthetic data folder')
    parser.add_argument('--data-seed', type=int, default=spec.seed,
                        help='seed of the generated data (the same for every run)')
    parser.add_argument('--shift-strength', type=float, default=spec.shift_strength)
    parser.add_argument('--num-source', type=int, default=spec.num_source)
    parser.add_argument('--num-target-train', type=int, default=spec.num_target_train)
    parser.add_argument('--num-target-val', type=int, default=spec.num_target_val)
    parser.add_argument('--jobs', type=int, default=1, choices=(1, 2),
                        help='trainings at once (each gets cores / jobs threads)')
    parser.add_argument('--rerun', action='store_true',
                        help='train again even where a finished run exists')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    from mmseg.utils.errors import UserError

    args = parse_args(argv)
    methods = [m for m in args.methods.split(',') if m]
    try:
        seeds = [int(s) for s in args.seeds.split(',') if s]
    except ValueError as err:
        raise UserError(f'--seeds {args.seeds}: give integers separated by commas.') from err
    missing = [m for m in methods if not osp.isfile(config_of(m))]
    if missing:
        raise UserError(f'--methods: no config {", ".join(config_of(m) for m in missing)}')
    if not methods or not seeds:
        raise UserError('--methods and --seeds must not be empty.')
    spec = DataSpec(args.num_source, args.num_target_train, args.num_target_val,
                    seed=args.data_seed, shift_strength=args.shift_strength)
    prepare_data(args.data_root, spec, nproc=2)
    os.makedirs(args.out, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    settings = dict(methods=methods, seeds=seeds, iters=args.iters, data=spec.as_dict(),
                    data_root=args.data_root, jobs=args.jobs, threads_per_job=threads,
                    command=' '.join([osp.basename(sys.argv[0])] + list(
                        sys.argv[1:] if argv is None else argv)))
    runs: List[Dict] = []
    failed: List[str] = []
    lock = threading.Lock()

    def save() -> Dict[str, Dict]:
        summary = summarise(runs, methods)
        with open(osp.join(args.out, 'results.json'), 'w') as f:
            json.dump(dict(settings=settings, summary=summary,
                           runs=sorted(runs, key=lambda r: (r['method'], r['seed']))),
                      f, indent=1)
        return summary

    def job(plan: Dict) -> None:
        try:
            result = run_one(plan, args.rerun, threads)
        except Exception as err:  # one failed run must not stop the others
            log(f"[{plan['method']} seed {plan['seed']}] FAILED: {err}")
            with lock:
                failed.append(f"{plan['method']} seed {plan['seed']} ({plan['work_dir']})")
            return
        with lock:
            runs.append(result)
            save()

    start = time.time()
    plans = plan_runs(methods, seeds, args)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(job, plans))
    summary = save()
    iters = '/'.join(str(i) for i in sorted({p['iters'] for p in plans}))
    plot_path = osp.join(args.out, 'benchmark_synthetic.png')
    if summary:
        plot(summary, plot_path, f'synthetic GTA-like -> Cityscapes-like, {iters} iters, '
                                 f'{len(seeds)} seeds')
    log(format_table(summary))
    log(f'results: {osp.join(args.out, "results.json")}, plot: {plot_path} '
        f'({time.time() - start:.0f} s)')
    if failed:
        raise UserError(f'{len(failed)} run(s) failed (see train_output.log in their work '
                        f'dirs): {"; ".join(failed)}')
    return summary


def cli(argv: Optional[Sequence[str]] = None) -> None:
    """Run `main`; a user error prints its message alone and exits with status 1."""
    from mmseg.utils.errors import run_cli
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
