"""GPU check: the real user path (train, resume, test, infer), the CUDA tests and the benchmarks.

    bash tools/gpu_check.sh                        # on the GPU machine, from anywhere
    CPU_SMOKE=1 bash tools/gpu_check.sh            # the same steps on the CPU, tiny sizes
    bash tools/gpu_check.sh --list                 # the steps, their timeouts and what they need
    bash tools/gpu_check.sh --steps 'test_*,infer_cuda_vs_cpu'   # a selection (+ what it needs)
    bash tools/gpu_check.sh --fail-step train_mic_fp32           # self-test: see below

Every step runs real commands (`tools/train.py`, `python -m tools.test`, `python -m tools.infer`,
`tools/benchmark.py`, pytest) as subprocesses under a timeout, their stdout and stderr tee'd to
`$OUT/<step>.log`, then checks what they wrote (checkpoints, the `.log.json`, predictions).
At the end it prints the table `step | status | seconds | note` and the last lines of the log of
every failed step, and writes `$OUT/summary.json` (rewritten after each step, so a run cut short
still leaves one) and `$OUT/benchmark.jsonl`. Exit status: 0 when every step passed (or was
skipped by design: CUDA-only in CPU smoke, or after a failed step it needs); 1 when a step failed
or was not run for lack of time; 2 on a usage error or when GPU mode finds no CUDA device at
once; 130 when interrupted (SIGTERM, Ctrl-C: the running command is killed, the summary written).

GPU mode (the default) is sized for one H100 lent for 8 minutes: `--budget` seconds (default
450) bound the whole run, each step has its own timeout as well, and the most important steps
run first (train, resume, test, infer), the compiled run and the full-size benchmarks last.
A step that would start with less than 20 s of the budget left is `not run` (the run fails);
a step whose timeout the budget cut short fails with a note saying so.
CPU smoke (`--cpu-smoke` or CPU_SMOKE=1) runs the same commands with `CUDA_VISIBLE_DEVICES=` and
the benchmarks at `--small` size; `train_pcpr_fast` is skipped there (torch.compile of the run
took 254 s on a 2-core CPU).

Self-test of the failure reporting: `--fail-step NAME` makes step NAME fail on purpose, with the
real command really failing: a command that reads a config gets an unregistered backbone
(`--cfg-options model.backbone.type=GpuCheckDeliberateFailure`), another command an unknown flag
(`--gpu-check-deliberate-failure`), and the check-only `memory` step fails its check. The other
steps run as usual; the summary must name NAME as failed.

Training data is the project's synthetic benchmark (tools/synthetic/generate.py and the
real GTA/Cityscapes converters), written with the work dirs into a scratch folder (`--work`,
default a temporary folder removed at the end unless `--keep-work`); the `.log.json` of every
training run is copied to `$OUT/<step>.log.json`.
"""
import argparse
import fnmatch
import json
import os
import os.path as osp
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ''):  # `python tools/gpu_check.py` from the repository root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

REPO = Path(__file__).resolve().parents[1]

# The demo run: 4 iterations, checkpoints after 2 and 4, the evaluation hook after 4.
TRAIN_ITERS = 4
HALF_ITERS = 2
DATA = dict(num_source=12, num_target_train=6, num_target_val=2, size=(128, 256))
DEMO_CONFIGS = {'mic': 'configs/demo/mic_synthetic.py', 'pcpr': 'configs/demo/pcpr_synthetic.py'}
FULL_CONFIGS = {'mic': 'configs/mic/gtaHR2csHR_mic_hrda.py',
                'pcpr': 'configs/pcpr/gtaHR2csHR_pcpr.py'}
# The switches of mmseg/apis/performance.py (top-level keys) and torch's fused AdamW.
FAST_OPTIONS = ('optimizer.fused=True', 'channels_last=True', 'compile_backbone=True')
BENCHMARK_SIZES = {  # (GPU, CPU smoke) arguments of tools/benchmark.py
    'train': (['--iters', '10', '--warmup', '3'], ['--small', '--iters', '1', '--warmup', '0']),
    'test': (['--iters', '5', '--warmup', '2'], ['--small', '--iters', '1', '--warmup', '0']),
}
PRECISIONS = {'fp32': 'None', 'bf16': 'bf16', 'fp16': 'fp16'}
# MIC(HRDA) with DINOv2 ViT-L + ViT-Adapter in bf16, as shipped, with random weights (the
# benchmark sets pretrained=None; no weights file is needed): its training step's speed and
# memory only. A handful of iterations: at 1-2 s per iteration, with the three ViT-L copies
# (student, EMA teacher, frozen feature-distance model) built first, it takes about a minute.
VIT_CONFIG = 'configs/vfm/gtaHR2csHR_mic_hrda_dinov2_vitl.py'
VIT_BENCHMARK_SIZES = (['--iters', '5', '--warmup', '2'],
                       ['--small', '--keep-encoder', '--iters', '1', '--warmup', '0'])
# CPU smoke: the same command with the ViT shrunk to 4 blocks of 64 channels (ViT-L itself
# takes minutes per iteration on a CPU); the pyramid and head take its width.
TINY_VIT_OPTIONS = ('model.backbone.model_kwargs.embed_dim=64',
                    'model.backbone.model_kwargs.depth=4',
                    'model.backbone.model_kwargs.num_heads=2',
                    'model.backbone.model_kwargs.img_size=56',
                    'model.backbone.out_indices=[0,1,2,3]',
                    'model.backbone.pyramid.out_channels=64',
                    'model.decode_head.in_channels=[64,64,64,64]')
MIN_AGREEMENT = 0.99      # infer on CUDA vs CPU: share of equal predicted pixels
MAX_MEMORY_GROWTH = 0.20  # CUDA memory of the last iteration vs iteration 2
MIN_START_S = 20          # a step does not start with less of the budget left
DEFAULT_GPU_BUDGET_S = 450
LOG_TAIL_LINES = 25

DELIBERATE_OPTION = 'model.backbone.type=GpuCheckDeliberateFailure'
DELIBERATE_FLAG = '--gpu-check-deliberate-failure'

# Printed by the `env` step (argparse first: it refuses DELIBERATE_FLAG like any real tool).
ENV_REPORT = '''
import argparse, json, os, platform
argparse.ArgumentParser(description='gpu_check environment report').parse_args()
import torch, mmcv, mmseg
info = dict(python=platform.python_version(), torch=torch.__version__, cuda=torch.version.cuda,
            cudnn=str(torch.backends.cudnn.version()), mmcv=mmcv.__version__,
            mmseg=mmseg.__version__, cpu_count=os.cpu_count(),
            torch_threads=torch.get_num_threads(),
            cuda_visible_devices=os.environ.get('CUDA_VISIBLE_DEVICES'),
            cuda_available=torch.cuda.is_available())
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    info.update(device=props.name, capability=f'{props.major}.{props.minor}',
                memory_gib=round(props.total_memory / 2**30, 1),
                device_count=torch.cuda.device_count(),
                bf16_supported=torch.cuda.is_bf16_supported())
print('GPU_CHECK_ENV ' + json.dumps(info))
'''


class StepFailed(Exception):
    """A step's check found something wrong; the message becomes the note."""


class UsageError(Exception):
    """A wrong command line (exit status 2)."""


# ------------------------------------------------------------------------------ the steps
@dataclass
class Command:
    argv: List[str]
    env: Dict[str, str] = field(default_factory=dict)
    # The command reads a config and takes `--cfg-options` (last on its command line).
    config_tool: bool = False


@dataclass
class Step:
    name: str
    doc: str
    timeout: int                      # seconds on the GPU machine
    # (run, step name) -> the commands; None: a check-only step
    commands: Optional[Callable[['Run', str], List[Command]]] = None
    check: Optional[Callable[['Run', 'Step'], str]] = None      # returns the note
    needs: Tuple[str, ...] = ()
    cpu_skip: str = ''                # why CPU smoke skips it ('' = it runs)
    cpu_timeout: int = 600


class Run:
    """Settings and results of one gpu_check run; the step functions read their paths here."""

    def __init__(self, args):
        self.args = args
        self.cpu_smoke = args.cpu_smoke
        self.out = Path(args.out).resolve()
        self.work = Path(args.work).resolve()
        self.python = sys.executable
        self.results: Dict[str, dict] = {}
        self.budget = args.budget
        self.start = time.monotonic()

    # paths
    @property
    def data(self) -> Path:
        return self.work / 'data'

    def work_dir(self, step: str) -> Path:
        return self.work / step

    def log(self, step: str) -> Path:
        return self.out / f'{step}.log'

    def checkpoint(self, step: str, iteration: int) -> Path:
        return self.work_dir(step) / f'iter_{iteration}.pth'

    @property
    def val_images(self) -> Path:
        return self.data / 'cityscapes' / 'leftImg8bit' / 'val'

    def remaining(self) -> Optional[float]:
        if not self.budget:
            return None
        return self.budget - (time.monotonic() - self.start)

    def env(self, extra: Dict[str, str]) -> Dict[str, str]:
        env = dict(os.environ, PYTHONUNBUFFERED='1')
        env['PYTHONPATH'] = os.pathsep.join(
            [str(REPO)] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
        if self.cpu_smoke:
            env['CUDA_VISIBLE_DEVICES'] = ''
        env.update(extra)
        return env


def demo_options(run: Run, method: str, max_iters: int = TRAIN_ITERS) -> List[str]:
    """`--cfg-options` of a short demo run on the synthetic data (as the reliability tests)."""
    root = run.data
    options = {
        'data.train.source.data_root': f'{root}/gta/',
        'data.train.target.data_root': f'{root}/cityscapes/',
        'data.val.data_root': f'{root}/cityscapes/',
        'data.test.data_root': f'{root}/cityscapes/',
        'data.workers_per_gpu': 0,
        'runner.max_iters': max_iters,
        'checkpoint_config.interval': HALF_ITERS,
        'checkpoint_config.max_keep_ckpts': 10,
        'evaluation.interval': TRAIN_ITERS,
        'log_config.interval': 1,
        'log_config.img_interval': 0,
    }
    if method == 'pcpr':  # prototype losses from the first iteration
        options['uda.fpc.proto_start_iter'] = 0
    return [f'{k}={v}' for k, v in options.items()]


def train_command(run: Run, step: str, method: str, *extra_options: str,
                  resume_from: Optional[Path] = None, max_iters: int = TRAIN_ITERS,
                  env: Optional[Dict[str, str]] = None) -> Command:
    argv = [run.python, 'tools/train.py', DEMO_CONFIGS[method],
            '--work-dir', str(run.work_dir(step))]
    if resume_from is not None:
        argv += ['--resume-from', str(resume_from)]
    argv += ['--cfg-options', *demo_options(run, method, max_iters), *extra_options]
    return Command(argv, env=env or {}, config_tool=True)


def newest_json_log(work_dir: Path) -> Path:
    logs = sorted(work_dir.glob('*.log.json'))
    if not logs:
        raise StepFailed(f'no .log.json in {work_dir}')
    return logs[-1]


def json_log_curves(run: Run, step: str) -> dict:
    """The curves of the step's training log (copied to $OUT/<step>.log.json)."""
    from mmseg.utils.json_log import load_json_log
    log = newest_json_log(run.work_dir(step))
    shutil.copyfile(log, run.out / f'{step}.log.json')
    return load_json_log(str(log))


def step_log_text(run: Run, step: str) -> str:
    return run.log(step).read_text(errors='replace')


# env ------------------------------------------------------------------------------------
def env_commands(run: Run, name: str) -> List[Command]:
    commands = [Command([run.python, '-c', ENV_REPORT])]
    if shutil.which('nvidia-smi'):
        commands.append(Command(['nvidia-smi']))
    return commands


def env_check(run: Run, step: Step) -> str:
    lines = [line for line in step_log_text(run, step.name).splitlines()
             if line.startswith('GPU_CHECK_ENV ')]
    if not lines:
        raise StepFailed('no environment report in the log')
    info = json.loads(lines[-1][len('GPU_CHECK_ENV '):])
    (run.out / 'env.json').write_text(json.dumps(info, indent=1) + '\n')
    versions = f"torch {info['torch']}, CUDA {info['cuda']}, cuDNN {info['cudnn']}, " \
               f"mmcv {info['mmcv']}, {info['cpu_count']} CPUs"
    if not info['cuda_available']:
        if not run.cpu_smoke:
            raise StepFailed(f'{versions}: torch sees no CUDA device')
        return f'{versions}; CPU (CUDA_VISIBLE_DEVICES=)'
    return f"{versions}; {info['device_count']} x {info['device']} ({info['memory_gib']} GiB, " \
           f"sm {info['capability']}, bf16 {info['bf16_supported']})"


# data -----------------------------------------------------------------------------------
def data_commands(run: Run, name: str) -> List[Command]:
    root = run.data
    h, w = DATA['size']
    return [
        Command([run.python, 'tools/synthetic/generate.py', str(root),
                 '--num-source', str(DATA['num_source']),
                 '--num-target-train', str(DATA['num_target_train']),
                 '--num-target-val', str(DATA['num_target_val']),
                 '--size', str(h), str(w), '--seed', '0']),
        Command([run.python, 'tools/convert_datasets/gta.py', str(root / 'gta'), '--nproc', '1']),
        Command([run.python, 'tools/convert_datasets/cityscapes.py', str(root / 'cityscapes'),
                 '--nproc', '1']),
    ]


def data_check(run: Run, step: Step) -> str:
    expected = {
        'gta/labels/*_labelTrainIds.png': DATA['num_source'],
        'cityscapes/gtFine/train/*/*_labelTrainIds.png': DATA['num_target_train'],
        'cityscapes/leftImg8bit/val/*/*.png': DATA['num_target_val'],
    }
    for pattern, count in expected.items():
        found = len(list(run.data.glob(pattern)))
        if found != count:
            raise StepFailed(f'{found} files match {pattern}, expected {count}')
    for stats in ('gta/sample_class_stats.json', 'cityscapes/sample_class_stats.json'):
        if not (run.data / stats).is_file():
            raise StepFailed(f'the converters wrote no {stats}')
    h, w = DATA['size']
    return f"{DATA['num_source']} source, {DATA['num_target_train']} target train, " \
           f"{DATA['num_target_val']} target val images ({h}x{w}) in {run.data}"


# training -------------------------------------------------------------------------------
def training(method: str, *options: str, env: Optional[Dict[str, str]] = None):
    def commands(run: Run, step_name: str) -> List[Command]:
        return [train_command(run, step_name, method, *options, env=env)]
    return commands


def check_training(run: Run, step: Step, iteration: int = TRAIN_ITERS,
                   need_miou: bool = True) -> str:
    if not run.checkpoint(step.name, iteration).is_file():
        raise StepFailed(f'exit status 0 but no iter_{iteration}.pth in '
                         f'{run.work_dir(step.name)}')
    curves = json_log_curves(run, step.name)
    iters = curves.get('time', ([], []))[0]
    if not iters or max(iters) != iteration:
        raise StepFailed(f'the .log.json has train lines up to iteration '
                         f'{max(iters) if iters else None}, expected {iteration}')
    note = f'iter_{iteration}.pth written'
    if 'mIoU' in curves:
        note += f", mIoU {100 * curves['mIoU'][1][-1]:.2f} (eval hook)"
    elif need_miou:
        raise StepFailed('the .log.json has no mIoU entry (the evaluation hook did not run)')
    losses = [v for k, (_, vs) in curves.items() if k.endswith('loss_seg') for v in vs]
    if any(v != v or abs(v) == float('inf') for v in losses):
        raise StepFailed(f'{note}, but a logged loss is not finite')
    return note


def check_fast(run: Run, step: Step) -> str:
    """Only the exit status decides; the recompilations are reported."""
    recompiles = sum('Recompiling function' in line
                     for line in step_log_text(run, step.name).splitlines())
    note = f'{recompiles} recompilation(s) (TORCH_LOGS=recompiles)'
    try:
        return f'{note}; {check_training(run, step)}'
    except StepFailed as err:
        return f'{note}; {err}'


# resume ---------------------------------------------------------------------------------
def resume_commands(run: Run, name: str) -> List[Command]:
    return [train_command(run, 'resume', 'pcpr',
                          resume_from=run.checkpoint('train_pcpr_fp32', HALF_ITERS))]


def max_state_difference(path_a: Path, path_b: Path) -> Tuple[float, str, int]:
    """Largest |a - b| over the floating-point tensors of two checkpoints' state_dicts."""
    from mmseg.utils.checkpoint import safe_load
    a, b = safe_load(str(path_a))['state_dict'], safe_load(str(path_b))['state_dict']
    if set(a) != set(b):
        raise StepFailed(f'the checkpoints hold different keys: {sorted(set(a) ^ set(b))[:5]}')
    worst, worst_key, compared = 0.0, '', 0
    for key, tensor in a.items():
        if not tensor.is_floating_point():
            continue
        compared += 1
        diff = (tensor.double() - b[key].double()).abs().max().item() if tensor.numel() else 0.0
        if diff > worst or diff != diff:
            worst, worst_key = diff, key
    return worst, worst_key, compared


def resume_check(run: Run, step: Step) -> str:
    half = run.checkpoint('train_pcpr_fp32', HALF_ITERS)
    if f'resumed from {half} at iteration {HALF_ITERS}' not in step_log_text(run, step.name):
        raise StepFailed(f'the log does not say "resumed from {half} at iteration {HALF_ITERS}"')
    note = check_training(run, step)
    diff, key, count = max_state_difference(run.checkpoint('train_pcpr_fp32', TRAIN_ITERS),
                                            run.checkpoint(step.name, TRAIN_ITERS))
    note += f'; max |diff| vs the uninterrupted iter_{TRAIN_ITERS}: {diff:.3g} over {count} ' \
            f'tensors' + (f' (largest: {key})' if diff else '')
    if run.cpu_smoke and diff != 0:
        raise StepFailed(f'{note}; on the CPU the resumed run must be identical')
    return note


def resume_on_cpu_commands(run: Run, name: str) -> List[Command]:
    return [train_command(run, 'resume_on_cpu', 'pcpr', max_iters=HALF_ITERS + 1,
                          resume_from=run.checkpoint('train_pcpr_fp32', HALF_ITERS),
                          env={'CUDA_VISIBLE_DEVICES': ''})]


def resume_on_cpu_check(run: Run, step: Step) -> str:
    if f'at iteration {HALF_ITERS}' not in step_log_text(run, step.name):
        raise StepFailed(f'the log does not say that it resumed at iteration {HALF_ITERS}')
    note = check_training(run, step, HALF_ITERS + 1, need_miou=False)
    written = 'CPU' if run.cpu_smoke else 'GPU'
    return f'{written}-written iter_{HALF_ITERS}.pth resumed on the CPU; {note}'


# test and infer ---------------------------------------------------------------------------
def trained(run: Run) -> Tuple[str, str]:
    """Config (the copy in the work dir, as users test) and last checkpoint of the fp32 run."""
    work_dir = run.work_dir('train_pcpr_fp32')
    return (str(work_dir / osp.basename(DEMO_CONFIGS['pcpr'])),
            str(run.checkpoint('train_pcpr_fp32', TRAIN_ITERS)))


def test_commands(hrda_out: str):
    def commands(run: Run, step_name: str) -> List[Command]:
        config, checkpoint = trained(run)
        argv = [run.python, '-m', 'tools.test', config, checkpoint, '--hrda-out', hrda_out]
        if hrda_out == 'ATT':
            argv += ['--show-dir', str(run.work_dir(step_name))]
        else:
            argv += ['--eval', 'mIoU']
        return [Command(argv, config_tool=True)]
    return commands


def printed_miou(text: str) -> float:
    """mIoU (in %) from tools/test.py's last lines: the IoU keys, then their values x 100."""
    lines = text.splitlines()
    for keys, values in zip(reversed(lines[:-1]), reversed(lines[1:])):
        if keys.startswith("['mIoU'"):
            return float(values.strip('[]').split(',')[0])
    raise StepFailed('tools/test.py printed no mIoU')


def test_check(run: Run, step: Step) -> str:
    return f'mIoU {printed_miou(step_log_text(run, step.name)):.1f}'


def test_att_check(run: Run, step: Step) -> str:
    pngs = sorted(run.work_dir(step.name).glob('**/*.png'))
    if len(pngs) != DATA['num_target_val']:
        raise StepFailed(f"{len(pngs)} attention PNGs written, expected {DATA['num_target_val']}")
    return f'{len(pngs)} attention PNGs written (--show-dir)'


def infer_outputs(run: Run) -> Dict[str, Path]:
    first = 'cpu_again' if run.cpu_smoke else 'cuda'
    return {first: run.work_dir('infer_cuda_vs_cpu') / first,
            'cpu': run.work_dir('infer_cuda_vs_cpu') / 'cpu'}


def infer_commands(run: Run, name: str) -> List[Command]:
    config, checkpoint = trained(run)
    commands = []
    for name, out in infer_outputs(run).items():
        device = 'cuda' if name == 'cuda' else 'cpu'
        commands.append(Command([run.python, '-m', 'tools.infer', config, checkpoint,
                                 str(run.val_images), '--out', str(out), '--device', device],
                                config_tool=True))
    return commands


def infer_check(run: Run, step: Step) -> str:
    import numpy as np
    from PIL import Image
    first, cpu = infer_outputs(run).values()
    names = sorted(p.relative_to(first) for p in first.glob('**/*_pred.png'))
    if len(names) != DATA['num_target_val']:
        raise StepFailed(f"{len(names)} *_pred.png in {first}, expected {DATA['num_target_val']}")
    if names != sorted(p.relative_to(cpu) for p in cpu.glob('**/*_pred.png')):
        raise StepFailed(f'{first.name} and cpu wrote different *_pred.png files')
    equal = total = 0
    for name in names:
        a, b = np.asarray(Image.open(first / name)), np.asarray(Image.open(cpu / name))
        if a.shape != b.shape:
            raise StepFailed(f'{name}: shapes {a.shape} and {b.shape} differ')
        equal += int((a == b).sum())
        total += a.size
    agreement = equal / total
    note = f'{first.name} vs cpu: {100 * agreement:.3f} % of {total} pixels agree ' \
           f'({len(names)} images)'
    if agreement < MIN_AGREEMENT:
        raise StepFailed(f'{note}, below {100 * MIN_AGREEMENT:.0f} %')
    return note


# memory ---------------------------------------------------------------------------------
def memory_check(run: Run, step: Step) -> str:
    curves = json_log_curves(run, 'train_pcpr_fp32')
    if 'memory' not in curves:
        if run.cpu_smoke:
            return 'no CUDA memory logged (CPU)'
        raise StepFailed('the CUDA run logged no `memory` field')
    by_iter = dict(zip(*curves['memory']))
    if HALF_ITERS not in by_iter:
        raise StepFailed(f'no memory logged at iteration {HALF_ITERS}')
    last = max(by_iter)
    growth = by_iter[last] / by_iter[HALF_ITERS] - 1
    note = f'iteration {HALF_ITERS}: {by_iter[HALF_ITERS]:.0f} MB, iteration {last}: ' \
           f'{by_iter[last]:.0f} MB ({100 * growth:+.1f} %)'
    if growth > MAX_MEMORY_GROWTH:
        raise StepFailed(f'{note}: grew by more than {100 * MAX_MEMORY_GROWTH:.0f} %')
    return note


# pytest ---------------------------------------------------------------------------------
def pytest_commands(run: Run, name: str) -> List[Command]:
    return [Command([run.python, '-m', 'pytest', '-q', '-m', 'cuda', '-p', 'no:cacheprovider',
                     'tests'])]


def pytest_check(run: Run, step: Step) -> str:
    summary = [line.strip('= ') for line in step_log_text(run, step.name).splitlines()
               if re.search(r'\d+ (passed|skipped|failed|deselected)', line)]
    note = summary[-1] if summary else 'no pytest summary line'
    if not run.cpu_smoke and not re.search(r'\d+ passed', note):
        raise StepFailed(f'{note}: no CUDA test passed on the GPU')
    return note


# benchmarks -----------------------------------------------------------------------------
def benchmark_commands(method: str, mode: str, precision: str):
    def commands(run: Run, step_name: str) -> List[Command]:
        sizes = BENCHMARK_SIZES[mode][1 if run.cpu_smoke else 0]
        return [Command([run.python, 'tools/benchmark.py', FULL_CONFIGS[method],
                         '--mode', mode, *sizes, '--cfg-options',
                         f'mixed_precision={PRECISIONS[precision]}',
                         'uda.pseudo_threshold=0.0'], config_tool=True)]
    return commands


def vit_benchmark_commands(run: Run, step_name: str) -> List[Command]:
    """The ViT-L MIC(HRDA) training step at full size in its config's bf16 (tiny on the CPU)."""
    sizes = VIT_BENCHMARK_SIZES[1 if run.cpu_smoke else 0]
    options = TINY_VIT_OPTIONS if run.cpu_smoke else ()
    return [Command([run.python, 'tools/benchmark.py', VIT_CONFIG, '--mode', 'train', *sizes,
                     '--cfg-options', 'uda.pseudo_threshold=0.0', *options], config_tool=True)]


def benchmark_check(run: Run, step: Step) -> str:
    result = None
    for line in step_log_text(run, step.name).splitlines():
        if line.startswith('{'):
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(parsed, dict) and 'mode' in parsed:
                result = parsed
    if result is None:
        raise StepFailed('tools/benchmark.py printed no JSON line')
    run.results[step.name]['data'] = result
    if result['mode'] == 'train':
        note = f"{result['s_per_iter']:.3f} s/iter"
    else:
        note = f"{result['images_per_s']:.2f} images/s"
    kind = 'peak' if result['peak_memory_kind'] == 'cuda_max_allocated' else 'peak RSS'
    note += f", {kind} {result['peak_memory_mb'] / 1024:.2f} GB"
    if result.get('fraction_of_bf16_peak') is not None:
        note += f", {result['achieved_tflops']:.1f} TFLOP/s = " \
                f"{100 * result['fraction_of_bf16_peak']:.1f} % of bf16 peak"
    flags = ', --small' if result['small'] else ''
    flags += ' --keep-encoder' if result.get('keep_encoder') else ''
    return note + f" ({result['device']}{flags})"


def make_steps() -> List[Step]:
    steps = [
        Step('env', 'torch/CUDA versions, the device, nvidia-smi', 60, env_commands, env_check),
        Step('data', f"synthetic GTA/Cityscapes data ({DATA['num_source']}/"
             f"{DATA['num_target_train']}/{DATA['num_target_val']} images) by the project's "
             'generator and converters', 120, data_commands, data_check, cpu_timeout=300),
    ]
    for method, precision in (('mic', 'fp32'), ('pcpr', 'fp32'), ('pcpr', 'bf16'),
                              ('pcpr', 'fp16')):
        name = f'train_{method}_{precision}'
        options = () if precision == 'fp32' else (f'mixed_precision={precision}',)
        steps.append(Step(
            name, f'tools/train.py {DEMO_CONFIGS[method]}, {TRAIN_ITERS} iterations '
            f'{precision}, checkpoints at {HALF_ITERS} and {TRAIN_ITERS}, evaluation',
            150, training(method, *options), check_training, ('data',)))
    steps += [
        Step('resume', f'--resume-from train_pcpr_fp32/iter_{HALF_ITERS}.pth to iteration '
             f'{TRAIN_ITERS}; parameters vs the uninterrupted run', 150, resume_commands,
             resume_check, ('train_pcpr_fp32',)),
        Step('resume_on_cpu', f'the GPU-written iter_{HALF_ITERS}.pth resumed with '
             'CUDA_VISIBLE_DEVICES= for one iteration', 180, resume_on_cpu_commands,
             resume_on_cpu_check, ('train_pcpr_fp32',)),
    ]
    for hrda_out in ('LR', 'HR', 'ATT'):
        name = f'test_{hrda_out.lower()}'
        what = '--show-dir (attention PNGs)' if hrda_out == 'ATT' else '--eval mIoU'
        steps.append(Step(name, f'python -m tools.test ... --hrda-out {hrda_out} {what}', 120,
                          test_commands(hrda_out),
                          test_att_check if hrda_out == 'ATT' else test_check,
                          ('train_pcpr_fp32',)))
    steps += [
        Step('infer_cuda_vs_cpu', 'python -m tools.infer on the val images with --device cuda '
             f'and --device cpu; >= {100 * MIN_AGREEMENT:.0f} % equal pixels', 180,
             infer_commands, infer_check, ('train_pcpr_fp32',)),
        Step('memory', f'CUDA memory of train_pcpr_fp32: last iteration <= iteration '
             f'{HALF_ITERS} + {100 * MAX_MEMORY_GROWTH:.0f} %', 30, None, memory_check,
             ('train_pcpr_fp32',)),
        Step('pytest_cuda', 'python -m pytest -q -m cuda tests', 240, pytest_commands,
             pytest_check),
        Step('train_pcpr_fast', f"train_pcpr_fp32 with {' '.join(FAST_OPTIONS)}, "
             'TORCH_LOGS=recompiles (fails only on a non-zero exit)', 150,
             training('pcpr', *FAST_OPTIONS, env={'TORCH_LOGS': 'recompiles'}), check_fast,
             ('data',),
             cpu_skip='torch.compile on the CPU is too slow for the smoke run (this run took '
                      '254 s on a 2-core CPU); it runs in GPU mode'),
    ]
    for method, mode, precision in (('pcpr', 'train', 'fp32'), ('pcpr', 'train', 'bf16'),
                                    ('pcpr', 'test', 'fp32'), ('pcpr', 'test', 'bf16'),
                                    ('mic', 'train', 'fp32'), ('mic', 'train', 'bf16')):
        name = f'benchmark_{mode}_{method}_{precision}'
        steps.append(Step(name, f'tools/benchmark.py {FULL_CONFIGS[method]} --mode {mode} '
                          f'mixed_precision={PRECISIONS[precision]} (full size)',
                          150 if mode == 'train' else 100,
                          benchmark_commands(method, mode, precision),
                          benchmark_check))
    steps.append(Step('benchmark_train_mic_vitl_bf16',
                      f'tools/benchmark.py {VIT_CONFIG} --mode train (DINOv2 ViT-L + ViT-Adapter, '
                      'bf16, random weights: speed and memory only; full size)', 150,
                      vit_benchmark_commands, benchmark_check))
    return steps


STEPS = make_steps()
STEP_NAMES = [step.name for step in STEPS]


def select_steps(patterns: Optional[Sequence[str]]) -> List[Step]:
    """The steps matching `patterns` (names or globs) and those they need, in the run order."""
    if not patterns:
        return list(STEPS)
    by_name = {step.name: step for step in STEPS}
    chosen = set()
    for pattern in patterns:
        matches = fnmatch.filter(STEP_NAMES, pattern)
        if not matches:
            raise UsageError(f'--steps {pattern}: no such step; the steps are '
                             f'{", ".join(STEP_NAMES)}')
        chosen.update(matches)
    pending = list(chosen)
    while pending:
        for need in by_name[pending.pop()].needs:
            if need not in chosen:
                chosen.add(need)
                pending.append(need)
    return [step for step in STEPS if step.name in chosen]


# ------------------------------------------------------------------------------ running
def deliberately_broken(command: Command) -> Command:
    """The command with an argument that makes the real tool fail (--fail-step)."""
    if command.config_tool:
        extra = [DELIBERATE_OPTION] if '--cfg-options' in command.argv \
            else ['--cfg-options', DELIBERATE_OPTION]
    else:
        extra = [DELIBERATE_FLAG]
    return Command(command.argv + extra, command.env, command.config_tool)


def execute(run: Run, command: Command, log, timeout: float, echo: Optional[str]):
    """Run one command, its output tee'd to `log` (and stdout); its exit status or None."""
    proc = subprocess.Popen(command.argv, cwd=REPO, env=run.env(command.env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def pump():
        for raw in iter(proc.stdout.readline, b''):
            line = raw.decode(errors='replace')
            log.write(line)
            log.flush()
            if echo is not None:
                sys.stdout.write(f'[{echo}] {line}')
                sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        returncode = proc.wait(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the command and the processes it started
        proc.wait()
        returncode = None
    except BaseException:  # Ctrl-C or SIGTERM of gpu_check: stop the command as well
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    reader.join(timeout=10)
    return returncode


def short(argv: Sequence[str]) -> str:
    """The start of a command line for the notes: `python tools/train.py CONFIG ...`."""
    words = ['<script>' if '\n' in a else a for a in argv[:4]]
    return ' '.join(osp.basename(w) if i == 0 else w for i, w in enumerate(words)) + \
        (' ...' if len(argv) > 4 else '')


def run_step(run: Run, step: Step) -> dict:
    result = run.results.setdefault(step.name, {})
    result.update(step=step.name, status='running', seconds=0.0, note='',
                  log=str(run.log(step.name)), commands=[])
    failed_needs = [n for n in step.needs if run.results.get(n, {}).get('status') != 'passed']
    remaining = run.remaining()
    timeout = step.cpu_timeout if run.cpu_smoke else step.timeout
    if failed_needs:
        result.update(status='skipped', note=f"needs {', '.join(failed_needs)}, which did not "
                                             'pass')
        return result
    if run.cpu_smoke and step.cpu_skip:
        result.update(status='skipped', note=step.cpu_skip)
        return result
    if remaining is not None and remaining < MIN_START_S:
        result.update(status='not run', note=f'the --budget of {run.budget} s was spent')
        return result
    capped = remaining is not None and remaining < timeout
    if capped:
        timeout = int(remaining)
    deliberate = run.args.fail_step == step.name
    start = time.monotonic()
    commands = step.commands(run, step.name) if step.commands else []
    if deliberate and commands:
        commands[0] = deliberately_broken(commands[0])
    echo = None if run.args.quiet else step.name
    print(f'== {step.name}: {step.doc}' + (f' (timeout {timeout} s)' if commands else ''),
          flush=True)
    status, note = 'passed', ''
    with open(run.log(step.name), 'w') as log:
        for command in commands:
            left = timeout - (time.monotonic() - start)
            line = shlex.join(command.argv)
            if command.env:
                line = ' '.join(f'{k}={shlex.quote(v)}' for k, v in command.env.items()) + \
                    ' ' + line
            result['commands'].append(line)
            log.write(f'$ {line}\n')
            log.flush()
            returncode = execute(run, command, log, left, echo)
            if returncode != 0:
                if returncode is None:
                    why = f'timed out after {timeout} s'
                    if capped:
                        why += f' (the --budget of {run.budget} s ran out)'
                else:
                    why = f'exit status {returncode}: {last_line(run.log(step.name))}'
                status, note = 'failed', f'`{short(command.argv)}` {why}'
                result['returncode'] = returncode
                break
    if status == 'passed' and step.check is not None:
        try:
            if deliberate and not commands:
                raise StepFailed('deliberate failure of this check-only step')
            note = step.check(run, step)
        except StepFailed as err:
            status, note = 'failed', str(err)
        except Exception as err:  # a bug of the check itself: still a failed step, reported
            status, note = 'failed', f'check raised {type(err).__name__}: {err}'
    if deliberate:
        note = f'deliberate (--fail-step): {note}'
    result.update(status=status, note=note, seconds=round(time.monotonic() - start, 1))
    return result


def last_line(path, width: int = 160) -> str:
    """The last line of a log that mentions an error (else its last line), shortened."""
    tail = log_tail(str(path), LOG_TAIL_LINES)
    errors = [line for line in tail if 'error' in line.lower()]
    return (errors or tail or [''])[-1].strip()[:width]


def log_tail(path: str, lines: int = LOG_TAIL_LINES) -> List[str]:
    if not osp.isfile(path):
        return []
    with open(path, errors='replace') as f:
        text = f.read().replace('\r', '\n')
    return [line for line in text.splitlines() if line.strip()][-lines:]


def write_summary(run: Run, steps: List[Step], done: bool) -> dict:
    results = [run.results.get(s.name, dict(step=s.name, status='pending', seconds=0.0,
                                            note='')) for s in steps]
    failed = [r for r in results if r['status'] == 'failed']
    not_run = [r['step'] for r in results if r['status'] == 'not run']
    summary = dict(
        mode='cpu_smoke' if run.cpu_smoke else 'gpu', finished=done,
        ok=done and not failed and not not_run, not_run=not_run,
        seconds=round(time.monotonic() - run.start, 1), budget_s=run.budget,
        fail_step=run.args.fail_step, out=str(run.out), python=run.python,
        host=platform.node(), steps=results,
        failed=[dict(step=r['step'], note=r['note'], log=r.get('log'),
                     log_tail=log_tail(r.get('log', ''))) for r in failed])
    (run.out / 'summary.json').write_text(json.dumps(summary, indent=1) + '\n')
    with open(run.out / 'benchmark.jsonl', 'w') as f:
        for r in results:
            if r['step'].startswith('benchmark_') and r['status'] in ('passed', 'failed'):
                row = dict(step=r['step'], **r['data']) if r.get('data') \
                    else dict(step=r['step'], error=r['note'])
                f.write(json.dumps(row) + '\n')
    return summary


def print_summary(summary: dict) -> None:
    rows = [(r['step'], r['status'], f"{r['seconds']:.1f}", r['note'])
            for r in summary['steps']]
    widths = [max(len(row[i]) for row in rows + [('step', 'status', 'seconds', '')])
              for i in range(3)]
    print(f"\n== gpu_check summary ({summary['mode']}, {summary['seconds']:.0f} s; "
          f"{summary['out']}/summary.json)")
    print(f"{'step':<{widths[0]}} | {'status':<{widths[1]}} | {'seconds':>{widths[2]}} | note")
    for name, status, seconds, note in rows:
        print(f'{name:<{widths[0]}} | {status:<{widths[1]}} | {seconds:>{widths[2]}} | {note}')
    for failed in summary['failed']:
        print(f"\n-- FAILED {failed['step']}: {failed['note']}\n   last lines of "
              f"{failed['log']}:")
        for line in failed['log_tail']:
            print(f'   | {line[:300]}')
    counts = ', '.join(f"{sum(r['status'] == s for r in summary['steps'])} {s}"
                       for s in ('passed', 'failed', 'skipped', 'not run'))
    verdict = []
    if not summary['finished']:
        verdict.append('INTERRUPTED')
    if summary['failed']:
        verdict.append('FAILED: ' + ', '.join(f['step'] for f in summary['failed']))
    if summary['not_run']:
        verdict.append('NOT RUN (time budget): ' + ', '.join(summary['not_run']))
    verdict = '; '.join(verdict) or 'all steps passed or skipped'
    print(f'\ngpu_check: {verdict} ({counts})', flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description='Run the real train/resume/test/infer commands, the CUDA tests and the '
                    'benchmarks on a GPU (or on the CPU with --cpu-smoke) and check them.')
    parser.add_argument('--cpu-smoke', '--dry-run', action='store_true',
                        default=os.environ.get('CPU_SMOKE', '0') not in ('', '0'),
                        help='the same steps on the CPU with tiny sizes (also CPU_SMOKE=1)')
    parser.add_argument('--steps', help='comma-separated step names or globs (the steps they '
                                        'need run as well); default: all')
    parser.add_argument('--list', action='store_true', help='print the steps and exit')
    parser.add_argument('--out', default=os.environ.get('OUT') or 'gpu_check_out',
                        help='output folder (default: $OUT, else ./gpu_check_out)')
    parser.add_argument('--work', help='scratch folder for the data, work dirs and checkpoints '
                                       '(default: a temporary folder, removed at the end)')
    parser.add_argument('--keep-work', action='store_true', help='keep the scratch folder')
    parser.add_argument('--budget', type=int, default=None,
                        help=f'seconds for the whole run (default: {DEFAULT_GPU_BUDGET_S} on '
                             'the GPU, none for --cpu-smoke; 0: none)')
    parser.add_argument('--fail-step', metavar='NAME',
                        help='self-test of the failure reporting: make step NAME fail on '
                             'purpose (its real command gets an invalid argument)')
    parser.add_argument('--quiet', action='store_true',
                        help="only write the commands' output to the logs, not to stdout")
    args = parser.parse_args(argv)
    if args.budget is None:
        args.budget = 0 if args.cpu_smoke else DEFAULT_GPU_BUDGET_S
    return args


def print_steps(steps: List[Step]) -> None:
    width = max(len(step.name) for step in steps)
    for step in steps:
        needs = f" (needs {', '.join(step.needs)})" if step.needs else ''
        skip = '; skipped in CPU smoke' if step.cpu_skip else ''
        print(f'{step.name:<{width}} {step.timeout:>4} s  {step.doc}{needs}{skip}')


def cuda_visible() -> bool:
    import torch
    return torch.cuda.is_available()


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        steps = select_steps(args.steps.split(',') if args.steps else None)
        if args.fail_step and args.fail_step not in [s.name for s in steps]:
            raise UsageError(f'--fail-step {args.fail_step} is not among the selected steps '
                             f'({", ".join(s.name for s in steps)})')
    except UsageError as err:
        print(f'gpu_check: {err}', file=sys.stderr)
        return 2
    if args.list:
        print_steps(steps)
        return 0
    if not args.cpu_smoke and not cuda_visible():
        print('gpu_check: no CUDA device is visible, so the GPU check cannot run. Run it on '
              'the GPU machine, or run the CPU smoke test: CPU_SMOKE=1 bash tools/gpu_check.sh '
              '(or --cpu-smoke).', file=sys.stderr)
        return 2
    Path(args.out).mkdir(parents=True, exist_ok=True)
    own_work = args.work is None
    args.work = args.work or tempfile.mkdtemp(prefix='gpu_check_')
    run = Run(args)
    budget = f'budget {run.budget} s' if run.budget else 'no time budget'
    print(f"gpu_check: {len(steps)} steps, {'CPU smoke' if run.cpu_smoke else 'GPU'} mode, "
          f'{budget}, logs in {run.out}, scratch in {run.work}', flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    finished = False
    try:
        for step in steps:
            result = run_step(run, step)
            print(f"== {step.name}: {result['status']} ({result['seconds']:.1f} s) "
                  f"{result['note']}", flush=True)
            write_summary(run, steps, done=False)
        finished = True
    except KeyboardInterrupt as err:  # the summary still says what ran and what failed
        for result in run.results.values():
            if result['status'] == 'running':
                result.update(status='failed', note=f'interrupted ({err or "Ctrl-C"})')
    finally:
        summary = write_summary(run, steps, done=finished)
        if own_work and not args.keep_work:
            shutil.rmtree(run.work, ignore_errors=True)
    print_summary(summary)
    if not finished:
        print('gpu_check: interrupted before the last step', flush=True)
        return 130
    return 0 if summary['ok'] else 1


def _interrupt(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


if __name__ == '__main__':
    sys.exit(main())
