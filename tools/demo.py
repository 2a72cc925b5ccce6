"""`make demo`: PCPR on the synthetic GTA-like -> Cityscapes-like benchmark, on a CPU, in minutes.

Why: a new user should see the whole method work (data layout, converters, RCS statistics, UDA
training, evaluation) before fetching ~70 GB of real data and ImageNet weights
(docs/results/synthetic_benchmark.md).

    python tools/demo.py [--iters N] [--data-root data/demo] [--work-dir work_dirs/demo]

Steps: generate the seeded source/target data into --data-root if it is missing (or was made
with other settings), convert it with the real GTA/Cityscapes converters, train PCPR with the
small MiT of configs/demo/ (tools/train.py in a subprocess; the full log goes to
<work-dir>/train_output.log), read the target val mIoU that the run's final evaluation wrote to
its JSON log, and draw image | ground truth | prediction | PCPR's filtered pseudo-label for a few
target val images into <work-dir>/demo_grid.png.
"""
import argparse
import dataclasses
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

if __package__ in (None, ''):  # run as a script: make `tools` importable from the repo root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo', 'pcpr_synthetic.py')
STAMP_NAME = 'synthetic_data.json'
PROGRESS = re.compile(r'Iter \[(\d+)/(\d+)\].*?eta: ((?:\d+ days?, )?[\d:]+)')


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What tools/synthetic/generate.py generates; the stamp in the data root records it.

    size is (H, W) of both domains; the demo configs resize to 128x256, so keep that shape.
    """
    num_source: int = 400
    num_target_train: int = 400
    num_target_val: int = 100
    size: Sequence[int] = (128, 256)
    seed: int = 0
    shift_strength: float = 0.6
    palette_shift: Optional[float] = None  # None: the class colours move with shift_strength

    def as_dict(self) -> Dict:
        """The stamp; palette_shift appears only when set, so older stamps stay valid."""
        stamp = dict(dataclasses.asdict(self), size=list(self.size))
        if self.palette_shift is None:
            del stamp['palette_shift']
        return stamp


def log(message: str) -> None:
    print(message, flush=True)


def prepare_data(root: str, spec: DataSpec, nproc: int = 2) -> None:
    """Generate `spec` into root/{gta,cityscapes} unless the stamp says it is there; convert.

    Data this tool generated with other settings (its stamp differs) is replaced; a folder
    without a stamp is never deleted.
    """
    from mmseg.utils.errors import UserError
    from tools.convert_datasets import cityscapes, gta
    from tools.synthetic import generate as synthetic

    stamp_path = osp.join(root, STAMP_NAME)
    stamp = None
    if osp.isfile(stamp_path):
        with open(stamp_path) as f:
            stamp = json.load(f)
    dirs = [osp.join(root, name) for name in ('gta', 'cityscapes')]
    if stamp != spec.as_dict():
        if stamp is None and any(osp.exists(d) for d in dirs):
            raise UserError(f'{root} holds gta/ or cityscapes/ folders that the demo did not '
                            f'generate (no {STAMP_NAME}); remove them or choose another '
                            '--data-root.')
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        start = time.time()
        log(f'[data] generating {spec.num_source} source, {spec.num_target_train} target train '
            f'and {spec.num_target_val} target val images (shift strength '
            f'{spec.shift_strength}'
            + ('' if spec.palette_shift is None else f', class colours {spec.palette_shift}')
            + f') into {root}')
        synthetic.generate(root, spec.num_source, spec.num_target_train, spec.num_target_val,
                           tuple(spec.size), seed=spec.seed, shift_strength=spec.shift_strength,
                           palette_shift=spec.palette_shift)
        with open(stamp_path, 'w') as f:
            json.dump(spec.as_dict(), f, indent=1)
        log(f'[data] generated in {time.time() - start:.0f} s')
    # The converters skip files that are up to date, so this is cheap on a second run.
    gta.main([dirs[0], '--nproc', str(nproc)])
    cityscapes.main([dirs[1], '--nproc', str(nproc)])


def data_root_options(config: str, root: str) -> List[str]:
    """`--cfg-options` that point every `data_root` of the config's data at `root`.

    The demo configs name 'data/demo/gta/' or 'data/demo/cityscapes/'; each is replaced by the
    same folder name under `root`, wherever it sits (UDA source/target, oracle train, val, test).
    """
    from mmseg.apis.config_checks import load_config

    options = []

    def visit(node, path):
        if isinstance(node, dict):
            if isinstance(node.get('data_root'), str):
                name = osp.basename(osp.normpath(node['data_root']))
                options.append(f'{path}.data_root={osp.join(osp.abspath(root), name)}/')
            for key, value in node.items():
                visit(value, f'{path}.{key}')

    visit(load_config(config).data, 'data')
    return options


def schedule_options(iters: int, log_interval: int) -> List[str]:
    """Shorten or lengthen the run: evaluate and save once, at the end."""
    return [f'runner.max_iters={iters}', f'evaluation.interval={iters}',
            f'checkpoint_config.interval={iters}',
            f'log_config.interval={max(1, min(log_interval, iters))}']


def train(config: str, work_dir: str, seed: int, options: Sequence[str], threads: int,
          prefix: str = '[train]') -> None:
    """tools/train.py in a subprocess; its output goes to <work_dir>/train_output.log and a
    one-line progress report per logged iteration is printed. Fails with the log's tail."""
    from mmseg.utils.errors import UserError

    os.makedirs(work_dir, exist_ok=True)
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', 'train.py'), config,
           '--work-dir', work_dir, '--seed', str(seed), '--cfg-options', *options]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONUNBUFFERED='1')
    out_path = osp.join(work_dir, 'train_output.log')
    start = time.time()
    with open(out_path, 'w') as out:
        out.write(' '.join(cmd) + '\n')
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            out.write(line)
            match = PROGRESS.search(line)
            if match:
                done, total = int(match.group(1)), int(match.group(2))
                log(f'{prefix} iter {done}/{total}  elapsed {time.time() - start:.0f} s  '
                    f'eta {match.group(3)}')
        proc.wait()
    if proc.returncode != 0:
        with open(out_path) as f:
            tail = ''.join(f.readlines()[-25:])
        raise UserError(f'training failed (exit status {proc.returncode}); the last lines of '
                        f'{out_path}:\n{tail}')


def read_log_entries(work_dir: str) -> List[Dict]:
    """The train/val entries (dicts with a `mode`) of the newest <work_dir>/*.log.json."""
    from mmseg.utils.errors import UserError

    logs = sorted(f for f in os.listdir(work_dir) if f.endswith('.log.json'))
    if not logs:
        raise UserError(f'no *.log.json in {work_dir}: the training did not write a log.')
    entries = []
    with open(osp.join(work_dir, logs[-1])) as f:
        for line in f:
            entry = json.loads(line)
            if 'mode' in entry:
                entries.append(entry)
    return entries


def read_log(work_dir: str) -> Dict:
    """The run's final target mIoU and mean PLF statistics, from the newest <work_dir>/*.log.json.

    Returns dict(mIoU=float in [0, 1] or None, plus the mean over the second half of the run's
    logged train entries of every `plf.*` key it logs (e.g. plf.acc_before, plf.acc_after).
    """
    entries = read_log_entries(work_dir)
    vals = [e for e in entries if e['mode'] == 'val' and 'mIoU' in e]
    result = dict(mIoU=vals[-1]['mIoU'] if vals else None)
    train_entries = [e for e in entries if e['mode'] == 'train']
    if train_entries:
        last_iter = train_entries[-1]['iter']
        late = [e for e in train_entries if e['iter'] > last_iter / 2] or train_entries[-1:]
        for key in sorted({k for e in late for k in e if k.startswith('plf.')}):
            values = [e[key] for e in late if key in e]
            result[key] = sum(values) / len(values)
    return result


def _grid_pipeline(cfg):
    """The target images at the test scale with their labels, as one unbatched training item."""
    test_scale = cfg.data.test.pipeline[1].img_scale
    norm = cfg.img_norm_cfg
    return [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='Resize', img_scale=test_scale, keep_ratio=True),
            dict(type='RandomFlip', prob=0.0), dict(type='Normalize', **norm),
            dict(type='DefaultFormatBundle'), dict(type='Collect', keys=['img', 'gt_semantic_seg'])]


def save_grid(work_dir: str, config_name: str, checkpoint: str, out_png: str,
              num_images: int) -> None:
    """Image | ground truth | prediction | the teacher's filtered pseudo-label (UDA runs).

    The pseudo-label is drawn in its class colour scaled by the filter's per-pixel factor
    (scale consistency x edge term, the weight without the batch-level confidence quality):
    black = dropped, dark = down-weighted near class edges.
    """
    import torch
    from mmcv.parallel import collate

    from mmseg.datasets import build_dataset
    from mmseg.models.builder import build_train_model
    from mmseg.models.utils.dacs_transforms import denorm
    from mmseg.models.utils.visualization import colorize_mask
    from mmseg.utils.checkpoint import safe_load
    from mmseg.apis.config_checks import load_config

    cfg = load_config(osp.join(work_dir, config_name))
    uda = build_train_model(cfg)
    uda.load_state_dict(safe_load(checkpoint)['state_dict'])
    uda.eval()
    # Plain segmentors (target oracle) and source-only runs have no teacher to draw.
    segmentor = uda.get_model() if hasattr(uda, 'get_model') else uda
    has_teacher = hasattr(uda, 'ema_model')
    dataset_cfg = dict(cfg.data.test, pipeline=_grid_pipeline(cfg), test_mode=False)
    dataset = build_dataset(dataset_cfg)
    mean, std = cfg.img_norm_cfg['mean'], cfg.img_norm_cfg['std']
    step = max(1, len(dataset) // max(1, num_images))
    rows = []
    for idx in list(range(0, len(dataset), step))[:num_images]:
        batch = collate([dataset[idx]], samples_per_gpu=1)
        img = batch['img'].data[0]
        metas = batch['img_metas'].data[0]
        gt = batch['gt_semantic_seg'].data[0]
        with torch.no_grad():
            pred = segmentor.encode_decode(img, metas).argmax(1)
        row = [('target image', denorm(img, mean, std)[0].clamp(0, 1)),
               ('ground truth', gt[0, 0]), ('prediction', pred[0])]
        if has_teacher:
            with torch.no_grad():
                pseudo = uda.make_pseudo_labels(uda.teacher_predict(img, metas), None, gt)
            colour = torch.from_numpy(colorize_mask(pseudo.label[0])).permute(2, 0, 1)
            row.append(('filtered pseudo-label',
                        colour.float() / 255 * pseudo.reliability[0].float()))
        rows.append(row)
    _draw_rows(rows, out_png)


def _draw_rows(rows: List[List[tuple]], path: str) -> None:
    """One row per image, cells (title, value) as `subplotimg` draws them; titles on top only.

    Values are float (3, H, W) RGB in [0, 1] or integer (H, W) label maps (Cityscapes colours).
    """
    import torch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from mmseg.models.utils.visualization import subplotimg

    height, width = rows[0][0][1].shape[-2:]
    cell = 3.0
    fig = Figure(figsize=(cell * len(rows[0]), cell * height / width * len(rows) + 0.4))
    FigureCanvasAgg(fig)
    axs = fig.subplots(len(rows), len(rows[0]), squeeze=False)
    for r, row in enumerate(rows):
        for c, (title, value) in enumerate(row):
            cmap = None if torch.is_floating_point(value) else 'cityscapes'
            subplotimg(axs[r][c], value, title if r == 0 else '', cmap=cmap)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.3 / fig.get_figheight(),
                        wspace=0.03, hspace=0.05)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    spec = DataSpec()
    parser = argparse.ArgumentParser(description='Train and evaluate PCPR on the synthetic '
                                     'domain-shift benchmark (a few minutes on a CPU).')
    parser.add_argument('--config', default=DEMO_CONFIG,
                        help='training config (configs/demo/pcpr_synthetic.py)')
    parser.add_argument('--data-root', default='data/demo', help='synthetic data folder')
    parser.add_argument('--work-dir', default='work_dirs/demo', help='run folder')
    parser.add_argument('--iters', type=int, default=None,
                        help="training iterations (default: the config's runner.max_iters)")
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-source', type=int, default=spec.num_source)
    parser.add_argument('--num-target-train', type=int, default=spec.num_target_train)
    parser.add_argument('--num-target-val', type=int, default=spec.num_target_val)
    parser.add_argument('--shift-strength', type=float, default=spec.shift_strength,
                        help='appearance gap between the domains: 0 none, 1 largest')
    parser.add_argument('--num-vis', type=int, default=4, help='rows of the picture grid')
    parser.add_argument('--log-interval', type=int, default=25,
                        help='iterations between progress lines')
    parser.add_argument('--threads', type=int, default=os.cpu_count() or 1,
                        help='CPU threads of the training process')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    from mmseg.apis.config_checks import load_config
    from mmseg.utils.errors import UserError

    args = parse_args(argv)
    start = time.time()
    if min(args.num_source, args.num_target_train, args.num_target_val) < 1:
        raise UserError('--num-source, --num-target-train and --num-target-val must be >= 1.')
    spec = DataSpec(args.num_source, args.num_target_train, args.num_target_val,
                    shift_strength=args.shift_strength)
    prepare_data(args.data_root, spec, nproc=min(2, args.threads))
    iters = args.iters or load_config(args.config).runner.max_iters
    options = data_root_options(args.config, args.data_root) \
        + schedule_options(iters, args.log_interval)
    log(f'[train] {args.config}: {iters} iterations, seed {args.seed}, work dir '
        f'{args.work_dir} (full log: {osp.join(args.work_dir, "train_output.log")})')
    train(args.config, args.work_dir, args.seed, options, args.threads)
    metrics = read_log(args.work_dir)
    if metrics['mIoU'] is None:
        raise UserError(f'the run in {args.work_dir} logged no final evaluation (mIoU).')
    checkpoint = osp.join(args.work_dir, f'iter_{iters}.pth')
    grid = osp.join(args.work_dir, 'demo_grid.png')
    log(f'[eval] drawing {args.num_vis} target val images into {grid}')
    save_grid(args.work_dir, osp.basename(args.config), checkpoint, grid, args.num_vis)
    summary = dict(metrics, iters=iters, seconds=round(time.time() - start, 1), grid=grid,
                   checkpoint=checkpoint)
    with open(osp.join(args.work_dir, 'demo_result.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    if 'plf.acc_before' in metrics:
        log(f"PCPR pseudo-label accuracy (second half of training): "
            f"{100 * metrics['plf.acc_before']:.1f}% before filtering, "
            f"{100 * metrics['plf.acc_after']:.1f}% on the kept pixels")
    log(f'picture grid (image | ground truth | prediction | filtered pseudo-label): {grid}')
    log(f're-evaluate: python -m tools.test {osp.join(args.work_dir, osp.basename(args.config))} '
        f'{checkpoint} --eval mIoU --show-dir {osp.join(args.work_dir, "show")} --opacity 1')
    log(f'demo finished in {time.time() - start:.0f} s')
    log(f"target val mIoU: {100 * metrics['mIoU']:.2f}")
    return summary


def cli(argv: Optional[Sequence[str]] = None) -> None:
    """Run `main`; a user error prints its message alone and exits with status 1."""
    from mmseg.utils.errors import run_cli
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
