"""The synthetic domain-shift benchmark: every method, several seeds, the same budget.

Why: the expected order source_only < mic <= pcpr < target_oracle
(docs/results/synthetic_benchmark.md) is only evidence when it holds across seeds, so each (method,
seed) is a real, separate training run, and a method is compared with MIC seed by seed (the same
seed = the same data order and init).

    python tools/synthetic/benchmark.py --methods source_only,mic,pcpr,target_oracle \
        --seeds 0,1,2 [--config-dir configs/demo/pretrained] [--out DIR] [--jobs 2]

A method name M is the config <config-dir>/M_synthetic.py: configs/demo/pretrained/ (default)
starts from the ImageNet stand-in (tools/synthetic/pretrain.py, run first and cached) with the
ImageNet feature distance on; configs/demo/ is the older from-scratch, 600-iteration variant.
Each run is tools/train.py in a subprocess with its own work dir (<out>/runs/<method>_seed<k>)
and `--seed k`; its final target val mIoU, PCPR's pseudo-label statistics and the teacher's
pseudo-label accuracy early and late in training are read from the run's JSON log. Prints a
table (mean, sample std, standard error of the mean, per-seed values), the paired difference
of every method minus `mic`, and writes <out>/results.json (updated after every run) and
<out>/benchmark_synthetic.png. Runs whose log already holds a final mIoU are reused unless
--rerun is given, so an interrupted benchmark continues where it stopped.
"""
import argparse
import json
import os
import os.path as osp
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence

if __package__ in (None, ''):  # run as a script: make `tools` importable from the repo root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from tools.demo import (REPO_ROOT, DataSpec, data_root_options, log,  # noqa: E402
                        prepare_data, read_log, read_log_entries, schedule_options, train)

DEFAULT_CONFIG_DIR = osp.join('configs', 'demo', 'pretrained')
PLF_KEYS = ('plf.acc_before', 'plf.acc_after', 'plf.kept', 'plf.acc_weighted')
# The teacher's pseudo-label accuracy on labelled target pixels (data.train.debug_gt): PCPR's
# filter logs it before filtering, DACS/MIC logs it as `pl.acc`.
TEACHER_ACC_KEYS = ('plf.acc_before', 'pl.acc')
# The self-training regime, per tenth of training (docs/results/synthetic_benchmark.md): MIC's
# confidence quality q, the teacher's pseudo-label accuracy (all / confident pixels), the median
# teacher confidence and, where a filter runs, its kept fraction and the accuracy of the pixels it
# keeps and drops. `pl.*` are logged by every UDA method when the target has debug labels.
REGIME_BY_TENTH_KEYS = ('pl.q', 'pl.acc', 'pl.acc_confident', 'pl.conf_p50', 'plf.kept',
                        'plf.acc_after', 'plf.acc_dropped')
BASELINE = 'mic'


def config_of(method: str, config_dir: str = DEFAULT_CONFIG_DIR) -> str:
    return osp.join(REPO_ROOT, config_dir, f'{method}_synthetic.py')


def sample_stats(values: Sequence[float]) -> Dict[str, float]:
    """n, mean, sample standard deviation (n - 1; 0 for one value) and its standard error."""
    n = len(values)
    mean = sum(values) / n
    std = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return dict(n=n, mean=mean, std=std, sem=std / n ** 0.5)


def paired_difference(values: Dict[int, float], baseline: Dict[int, float]) -> Optional[Dict]:
    """Per seed `values[s] - baseline[s]` over the seeds both have, with `sample_stats`.

    The same seed gives both methods the same data order and initialisation, so the paired
    difference removes the seed-to-seed spread that the two methods share.
    """
    seeds = sorted(set(values) & set(baseline))
    if not seeds:
        return None
    diffs = [values[s] - baseline[s] for s in seeds]
    return dict(sample_stats(diffs), seeds=seeds, diffs=diffs)


def early_late_mean(entries: Sequence[Dict], key: str, total_iters: int,
                    fraction: float = 0.1) -> Optional[Dict[str, float]]:
    """Mean of `key` over the train entries in the first and in the last `fraction` of the run.

    Entries are the JSON log's train lines ({'iter': i, key: value, ...}); None if the key is
    never logged or a window holds no entry.
    """
    logged = [(e['iter'], e[key]) for e in entries if e.get('mode') == 'train' and key in e]
    first = [v for i, v in logged if i <= fraction * total_iters]
    last = [v for i, v in logged if i > (1 - fraction) * total_iters]
    if not first or not last:
        return None
    return dict(first=sum(first) / len(first), last=sum(last) / len(last))


def tenth_means(entries: Sequence[Dict], key: str, total_iters: int) -> Optional[List]:
    """Mean of `key` over the train entries of each tenth of the run (iterations in
    (k T / 10, (k + 1) T / 10]); None for a tenth without entries, None if never logged."""
    logged = [(e['iter'], e[key]) for e in entries if e.get('mode') == 'train' and key in e]
    if not logged:
        return None
    means = []
    for k in range(10):
        window = [v for i, v in logged if k * total_iters < 10 * i <= (k + 1) * total_iters]
        means.append(sum(window) / len(window) if window else None)
    return means


def read_regime(work_dir: str, iters: int) -> Dict:
    """The teacher's pseudo-label accuracy over the first/last tenth of training, and the
    first logged iteration at which the prototype contrast loss is non-zero (PCPR)."""
    entries = read_log_entries(work_dir)
    regime = {}
    for key in TEACHER_ACC_KEYS:
        window = early_late_mean(entries, key, iters)
        if window is not None:
            regime['teacher_acc_first_tenth'] = window['first']
            regime['teacher_acc_last_tenth'] = window['last']
            break
    by_tenth = {key: tenth_means(entries, key, iters) for key in REGIME_BY_TENTH_KEYS}
    by_tenth = {key: means for key, means in by_tenth.items() if means is not None}
    if by_tenth:
        regime['by_tenth'] = by_tenth
    active = [e['iter'] for e in entries if e.get('mode') == 'train'
              and any(k.endswith('fpc.loss_cont') and e[k] > 0 for k in e)]
    if active:
        regime['fpc_first_active_logged_iter'] = min(active)
    return regime


def plan_runs(methods: Sequence[str], seeds: Sequence[int], args: argparse.Namespace
              ) -> List[Dict]:
    """One entry per (method, seed) with the config, iterations and `--cfg-options`.

    Resolved up front in the main thread: mmcv's Config.fromfile is not thread-safe.
    """
    from mmseg.apis.config_checks import load_config

    per_method = {}
    for method in methods:
        config = config_of(method, args.config_dir)
        cfg = load_config(config)
        iters = args.iters or cfg.runner.max_iters
        # Log often enough that the first and last tenth of the run hold entries.
        log_interval = max(1, min(50, iters // 20))
        options = data_root_options(config, args.data_root) + schedule_options(iters,
                                                                               log_interval)
        if cfg.model.get('pretrained'):  # train.py may run elsewhere: an absolute path
            options.append(f'model.pretrained={osp.abspath(cfg.model.pretrained)}')
        fpc = cfg.get('uda', {}).get('fpc')
        per_method[method] = dict(config=config, iters=iters, options=options)
        if fpc is not None:
            from mmseg.models.uda.prototype_learner import PrototypeLearner
            start = PrototypeLearner.from_cfg(fpc, num_classes=1).proto_start_iter
            per_method[method]['proto_active_iters'] = max(0, iters - start)
    return [dict(method=m, seed=s, work_dir=osp.join(args.out, 'runs', f'{m}_seed{s}'),
                 **per_method[m]) for s in seeds for m in methods]


def describe(plan: Dict) -> Dict:
    """The planned facts a result records: method, seed, work dir, iterations (and, for PCPR,
    how many of them the prototype losses act)."""
    keys = ('method', 'seed', 'work_dir', 'iters', 'proto_active_iters')
    return {k: plan[k] for k in keys if k in plan}


def finished_result(plan: Dict) -> Optional[Dict]:
    """The results of the run in the plan's work dir if it finished (its log holds the final
    mIoU), else None."""
    work_dir = plan['work_dir']
    if not osp.isdir(work_dir):
        return None
    try:
        done = read_log(work_dir)
    except Exception:  # no or unreadable log: not finished
        return None
    if done['mIoU'] is None:
        return None
    return dict(describe(plan), **done, **read_regime(work_dir, plan['iters']))


def run_one(plan: Dict, rerun: bool, threads: int) -> Dict:
    """Train one planned run (unless a finished one is in its work dir); read its results."""
    method, seed, work_dir = plan['method'], plan['seed'], plan['work_dir']
    tag = f'[{method} seed {seed}]'
    done = None if rerun else finished_result(plan)
    if done is not None:
        log(f'{tag} reusing the finished run in {work_dir}')
        return done
    start = time.time()
    train(plan['config'], work_dir, seed, plan['options'], threads, prefix=tag)
    result = dict(describe(plan), seconds=round(time.time() - start, 1), **read_log(work_dir),
                  **read_regime(work_dir, plan['iters']))
    log(f"{tag} target mIoU {100 * result['mIoU']:.2f} ({result['seconds']:.0f} s)")
    return result


REGIME_KEYS = ('teacher_acc_first_tenth', 'teacher_acc_last_tenth')


def summarise(runs: Sequence[Dict], methods: Sequence[str],
              baselines: Sequence[str] = (BASELINE,)) -> Dict[str, Dict]:
    """Per method: `sample_stats` of the mIoU in % with the per-seed values, the mean PLF and
    regime statistics (%), and `minus_<b>`, the paired difference to each baseline b where both
    have seeds."""
    by_method = {m: {r['seed']: r for r in runs
                     if r['method'] == m and r.get('mIoU') is not None}
                 for m in set(methods) | set(baselines)}
    summary = {}
    for method in methods:
        done = by_method[method]
        if not done:
            continue
        seeds = sorted(done)
        miou = [100 * done[s]['mIoU'] for s in seeds]
        entry = dict(sample_stats(miou), seeds=seeds, mIoU=miou)
        for key in PLF_KEYS + REGIME_KEYS:
            values = [100 * done[s][key] for s in seeds if key in done[s]]
            if values:
                entry[key] = sum(values) / len(values)
        by_tenth = mean_by_tenth([done[s].get('by_tenth', {}) for s in seeds])
        if by_tenth:
            entry['by_tenth'] = by_tenth
        active = {done[s]['proto_active_iters'] for s in seeds if 'proto_active_iters' in done[s]}
        if active:
            entry['proto_active_iters'] = max(active)
        for baseline in baselines:
            if method != baseline and by_method.get(baseline):
                entry[f'minus_{baseline}'] = paired_difference(
                    {s: 100 * r['mIoU'] for s, r in done.items()},
                    {s: 100 * r['mIoU'] for s, r in by_method[baseline].items()})
        summary[method] = entry
    return summary


def mean_by_tenth(runs: Sequence[Dict[str, List]]) -> Dict[str, List]:
    """Per key and tenth, the mean in % over the runs that logged it (None where none did)."""
    out = {}
    for key in REGIME_BY_TENTH_KEYS:
        per_run = [r[key] for r in runs if key in r]
        if not per_run:
            continue
        out[key] = []
        for k in range(10):
            values = [100 * means[k] for means in per_run if means[k] is not None]
            out[key].append(sum(values) / len(values) if values else None)
    return out


def format_regime_table(summary: Dict[str, Dict]) -> str:
    """One line per method and regime statistic: its mean (%) in each tenth of training."""
    header = f"{'method':<22} {'statistic (%)':<17}" + ''.join(f'{k + 1:>6}' for k in range(10))
    lines = ['The self-training regime per tenth of training (mean over seeds):', header,
             '-' * len(header)]
    for method, s in summary.items():
        for key, means in s.get('by_tenth', {}).items():
            cells = ''.join(f'{v:>6.1f}' if v is not None else f"{'-':>6}" for v in means)
            lines.append(f'{method:<22} {key:<17}{cells}')
    return '\n'.join(lines)


def format_table(summary: Dict[str, Dict], baselines: Sequence[str] = (BASELINE,)) -> str:
    header = (f"{'method':<22} {'seeds':>5} {'mIoU mean +- std':>17} {'SEM':>5}  "
              f"{'per seed':<24} "
              + ' '.join(f"{f'- {b} (paired)':>22}" for b in baselines)
              + f" {'teacher PL acc':>15} {'PLF kept':>8}")
    lines = [header, '-' * len(header)]
    for method, s in summary.items():
        per_seed = ', '.join(f'{v:.2f}' for v in s['mIoU'])
        diff_text = ' '.join(f'{_paired_text(s.get(f"minus_{b}")):>22}' for b in baselines)
        acc = (f"{s['teacher_acc_first_tenth']:.1f} -> {s['teacher_acc_last_tenth']:.1f}"
               if 'teacher_acc_first_tenth' in s else '-')
        kept = f"{s['plf.kept']:.1f}" if 'plf.kept' in s else '-'
        lines.append(f"{method:<22} {s['n']:>5} {s['mean']:>8.2f} +- {s['std']:<5.2f} "
                     f"{s['sem']:>5.2f}  {per_seed:<24} {diff_text} {acc:>15} {kept:>8}")
    lines.append('mIoU in %: mean +- sample std over seeds, SEM = std / sqrt(n); "- B" = '
                 'per-seed difference to B (same seed = same data order and init), '
                 'mean +- std (SEM). Teacher PL acc = accuracy (%) of the teacher\'s unfiltered '
                 'pseudo-labels on labelled target pixels, first -> last tenth of training; PLF '
                 'kept = % of pixels PCPR\'s filter keeps (second half of training).')
    for method, s in summary.items():
        if 'proto_active_iters' in s:
            lines.append(f"{method}: the prototype losses act for {s['proto_active_iters']} "
                         'iterations.')
    return '\n'.join(lines)


def _paired_text(diff: Optional[Dict]) -> str:
    return f"{diff['mean']:+.2f} +- {diff['std']:.2f} ({diff['sem']:.2f})" if diff else '-'


def plot_paired(summary: Dict[str, Dict], path: str, baselines: Sequence[str], title: str
                ) -> bool:
    """One panel per baseline: each other method's per-seed paired differences (dots, seed
    numbers beside them) and their mean +- 2 SEM; False (nothing drawn) if no method has one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [(b, [m for m in summary if summary[m].get(f'minus_{b}')]) for b in baselines]
    panels = [(b, methods) for b, methods in panels if methods]
    if not panels:
        return False
    fig = Figure(figsize=(1.5 + 1.1 * sum(len(m) for _, m in panels), 4))
    FigureCanvasAgg(fig)
    axs = fig.subplots(1, len(panels), squeeze=False,
                       gridspec_kw=dict(width_ratios=[len(m) for _, m in panels]))[0]
    for ax, (baseline, methods) in zip(axs, panels):
        ax.axhline(0.0, color='grey', lw=0.8)
        for x, method in enumerate(methods):
            diff = summary[method][f'minus_{baseline}']
            ax.errorbar([x], [diff['mean']], yerr=[2 * diff['sem']], fmt='s', color='#4c72b0',
                        capsize=5, zorder=3)
            offsets = [x + 0.18] * diff['n']
            ax.scatter(offsets, diff['diffs'], color='black', s=10, zorder=4)
            for seed, value in zip(diff['seeds'], diff['diffs']):
                ax.annotate(str(seed), (x + 0.18, value), xytext=(3, 0),
                            textcoords='offset points', fontsize=6, va='center')
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods, rotation=25, ha='right', fontsize=8)
        ax.set_xlim(-0.6, len(methods) - 0.2)
        ax.set_ylabel(f'mIoU - {baseline}, same seed (points)')
        ax.set_title(f'paired with {baseline}: mean +- 2 SEM, dots = seeds', fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    return True


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


def prepare_pretrained(configs: Sequence[str]) -> None:
    """Run the ImageNet stand-ins' pretraining (cached: a no-op when done) for the configs
    whose `model.pretrained` is a stand-in's default checkpoint: MiT-B0's
    (pretrained/mit_b0_synthetic.pth) and the ViT's (pretrained/vit_tiny_synthetic.pth)."""
    from mmseg.apis.config_checks import load_config
    from tools.synthetic import pretrain

    paths = {load_config(c).model.get('pretrained') for c in configs}
    for backbone in pretrain.STANDIN_BACKBONES:
        out = pretrain.default_out(backbone)
        if out in paths:
            pretrain.main(['--backbone', backbone, '--out', out])


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    spec = DataSpec()
    parser = argparse.ArgumentParser(description='Train every method on the synthetic '
                                     'domain-shift benchmark with several seeds and compare.')
    parser.add_argument('--methods', default='source_only,mic,pcpr,target_oracle',
                        help='comma-separated; M means configs/demo/M_synthetic.py')
    parser.add_argument('--seeds', default='0,1,2', help='comma-separated training seeds')
    parser.add_argument('--iters', type=int, default=None,
                        help="iterations per run (default: each config's runner.max_iters)")
    parser.add_argument('--out', default='work_dirs/benchmark_synthetic_pretrained',
                        help='folder for runs/, results.json and the plot')
    parser.add_argument('--config-dir', default=DEFAULT_CONFIG_DIR,
                        help='folder of the <method>_synthetic.py configs (relative to the '
                        'repository): configs/demo/pretrained (ImageNet stand-in, feature '
                        'distance on) or configs/demo (from scratch, 600 iterations)')
    parser.add_argument('--data-root', default='data/demo', help='synthetic data folder')
    parser.add_argument('--data-seed', type=int, default=spec.seed,
                        help='seed of the generated data (the same for every run)')
    parser.add_argument('--shift-strength', type=float, default=spec.shift_strength)
    parser.add_argument('--palette-shift', type=float, default=spec.palette_shift,
                        help='gap of the class colours alone (default: --shift-strength)')
    parser.add_argument('--num-source', type=int, default=spec.num_source)
    parser.add_argument('--num-target-train', type=int, default=spec.num_target_train)
    parser.add_argument('--num-target-val', type=int, default=spec.num_target_val)
    parser.add_argument('--jobs', type=int, default=1, choices=(1, 2),
                        help='trainings at once (each gets cores / jobs threads)')
    parser.add_argument('--rerun', action='store_true',
                        help='train again even where a finished run exists')
    parser.add_argument('--only-finished', action='store_true',
                        help='train nothing: summarise the planned runs that finished in --out '
                        '(e.g. more seeds of some methods than of others)')
    parser.add_argument('--paired-with', default=BASELINE,
                        help='comma-separated methods that every other method is paired with, '
                        'seed by seed (those not in --methods are left out)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    from mmseg.utils.errors import UserError

    args = parse_args(argv)
    methods = [m for m in args.methods.split(',') if m]
    try:
        seeds = [int(s) for s in args.seeds.split(',') if s]
    except ValueError as err:
        raise UserError(f'--seeds {args.seeds}: give integers separated by commas.') from err
    missing = [config_of(m, args.config_dir) for m in methods
               if not osp.isfile(config_of(m, args.config_dir))]
    if missing:
        raise UserError(f'--methods: no config {", ".join(missing)}')
    if not methods or not seeds:
        raise UserError('--methods and --seeds must not be empty.')
    baselines = [b for b in args.paired_with.split(',') if b in methods]
    left_out = [b for b in args.paired_with.split(',') if b and b not in methods]
    if left_out:
        log(f'--paired-with: {", ".join(left_out)} not in --methods, so nothing is paired with '
            'it')
    spec = DataSpec(args.num_source, args.num_target_train, args.num_target_val,
                    seed=args.data_seed, shift_strength=args.shift_strength,
                    palette_shift=args.palette_shift)
    if not args.only_finished:
        prepare_data(args.data_root, spec, nproc=2)
        prepare_pretrained([config_of(m, args.config_dir) for m in methods])
    os.makedirs(args.out, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    settings = dict(methods=methods, seeds=seeds, iters=args.iters, data=spec.as_dict(),
                    config_dir=args.config_dir,
                    data_root=args.data_root, jobs=args.jobs, threads_per_job=threads,
                    command=' '.join([osp.basename(sys.argv[0])] + list(
                        sys.argv[1:] if argv is None else argv)))
    runs: List[Dict] = []
    failed: List[str] = []
    lock = threading.Lock()

    def save() -> Dict[str, Dict]:
        summary = summarise(runs, methods, baselines)
        with open(osp.join(args.out, 'results.json'), 'w') as f:
            json.dump(dict(settings=settings, summary=summary,
                           runs=sorted(runs, key=lambda r: (r['method'], r['seed']))),
                      f, indent=1)
        return summary

    def job(plan: Dict) -> None:
        if args.only_finished:
            result = finished_result(plan)
            if result is None:
                log(f"[{plan['method']} seed {plan['seed']}] not finished in "
                    f"{plan['work_dir']}: left out (--only-finished)")
            else:
                with lock:
                    runs.append(result)
            return
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
    if args.only_finished and not runs:  # keep an earlier results.json rather than empty it
        raise UserError(f'--only-finished: none of the planned runs finished in '
                        f'{osp.join(args.out, "runs")}; check --out, --methods and --seeds.')
    summary = save()
    iters = '/'.join(str(i) for i in sorted({p['iters'] for p in plans}))
    plot_path = osp.join(args.out, 'benchmark_synthetic.png')
    paired_path = osp.join(args.out, 'paired_differences.png')
    title = (f'synthetic GTA-like -> Cityscapes-like, {iters} iters, '
             f'{len({r["seed"] for r in runs})} seeds')
    plots = []
    if summary:
        plot(summary, plot_path, title)
        plots.append(plot_path)
    if plot_paired(summary, paired_path, baselines, title):
        plots.append(paired_path)
    log(format_table(summary, baselines))
    log(format_regime_table(summary))
    log(f'results: {osp.join(args.out, "results.json")}, plots: {", ".join(plots)} '
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
