"""Launch experiments as MIC does: `python run_experiments.py --config CFG` or `--exp ID`.

Each run gets a generated child config `configs/generated/<exp_name>/<unique_name>.py` that
inherits the chosen config and sets `name`, `work_dir=work_dirs/<exp_name>/<unique_name>` and
`git_rev`; `unique_name = yymmdd_HHMM_<cfg.name>_<5 hex chars>`.
"""
import argparse
import os
import os.path as osp
import re
import subprocess
import sys
import uuid
from datetime import datetime

from mmcv.utils import DictAction, get_git_hash

from mmseg.apis.config_checks import load_config
from mmseg.utils.errors import UserError, run_cli

GEN_CONFIG_DIR = 'configs/generated'


def parse_args(args):
    parser = argparse.ArgumentParser(description='Run UDA experiments')
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--config', help='a config file to train')
    group.add_argument('--exp', type=int, help='an experiment group id of experiments.py')
    parser.add_argument('--machine', choices=['local'], default='local')
    parser.add_argument('--gpus', type=int, default=1,
                        help='number of GPUs; > 1 launches torchrun with --launcher pytorch')
    parser.add_argument('--resume-from', help='checkpoint to resume from (single config only)')
    parser.add_argument('--auto-resume', action='store_true',
                        help='continue the newest earlier run of this config that has a '
                             'checkpoint (its work dir and generated config), else start anew')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow checkpoints that need full unpickling (trusted files only)')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the resolved config(s) and exit without training')
    parser.add_argument('--debug', action='store_true',
                        help='log/debug images every 10 iterations, evaluate every 200')
    parser.add_argument('--startup-test', action='store_true',
                        help='run 2 iterations of each generated config (seed 0 only)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides applied to every run, e.g. runner.max_iters=10')
    return parser.parse_args(args)


def nest_options(flat):
    """{'a.b': 1} -> {'a': {'b': 1}}: overrides written into the generated child config."""
    nested = {}
    for dotted, value in flat.items():
        node = nested
        *parents, leaf = dotted.split('.')
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return nested


def merge(into, update):
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
    return into


def debug_overrides(args):
    if args.startup_test:
        return dict(log_level='ERROR', runner=dict(type='IterBasedRunner', max_iters=2),
                    evaluation=dict(interval=100),
                    checkpoint_config=dict(by_epoch=False, interval=100, save_last=False))
    if args.debug:
        return dict(log_config=dict(interval=10, img_interval=10),
                    evaluation=dict(interval=200), uda=dict(debug_img_interval=10))
    return {}


def generate_runs(args):
    """(child config dict, exp_name) for every run; `_base_` paths are relative to the repo."""
    if args.config:
        cfg = load_config(args.config, args.cfg_options)  # also checks the override keys
        return [(dict(_base_=[args.config], name=cfg.get('name') or
                      osp.splitext(osp.basename(args.config))[0]),
                 f'{args.machine}-{cfg.get("exp", "basic")}')]
    from experiments import generate_experiment_cfgs
    exp_name = f'{args.machine}-exp{args.exp}' + ('-startup' if args.startup_test else '')
    runs = []
    for cfg in generate_experiment_cfgs(args.exp):
        if args.startup_test and cfg.get('seed', 0) != 0:
            continue
        # experiments.py names bases relative to configs/, as MIC's generator does.
        cfg['_base_'] = [osp.join('configs', base) for base in cfg['_base_']]
        runs.append((cfg, exp_name))
    return runs


def child_config(run_cfg, exp_name, args):
    """The generated config: inherits the run's bases, names the run, applies overrides."""
    unique_name = (f'{datetime.now().strftime("%y%m%d_%H%M")}_{run_cfg["name"]}_'
                   f'{uuid.uuid4().hex[:5]}')
    out_dir = osp.join(GEN_CONFIG_DIR, exp_name)
    child = dict(run_cfg)
    child['_base_'] = [osp.relpath(base, out_dir) for base in run_cfg['_base_']]
    child.update(name=unique_name, work_dir=osp.join('work_dirs', exp_name, unique_name),
                 git_rev=get_git_hash())
    merge(child, debug_overrides(args))
    merge(child, nest_options(args.cfg_options))
    return child


def write_config(child, exp_name, suffix=''):
    path = osp.join(GEN_CONFIG_DIR, exp_name, f'{child["name"]}{suffix}.py')
    os.makedirs(osp.dirname(path), exist_ok=True)
    if osp.exists(path):
        raise UserError(f'{path} exists already; refusing to overwrite a generated config.')
    with open(path, 'w') as f:
        for key, value in child.items():
            f.write(f'{key} = {value!r}\n')
    return path


def train_args(cfg_path, args):
    train = [cfg_path]
    if args.resume_from:
        train += ['--resume-from', args.resume_from]
    if args.auto_resume:
        train += ['--auto-resume']
    if args.unsafe_load:
        train += ['--unsafe-load']
    return train


def previous_run_config(run_cfg, exp_name):
    """The generated config of the newest earlier run of `run_cfg` with a checkpoint, or None.

    Run folders are `work_dirs/<exp_name>/<yymmdd_HHMM>_<name>_<5 hex>`, so every
    `--auto-resume` call would otherwise start a new folder with nothing to resume.
    """
    from mmseg.core.runner import find_latest_checkpoint
    root = osp.join('work_dirs', exp_name)
    if not osp.isdir(root):
        return None
    pattern = re.compile(rf'^\d{{6}}_\d{{4}}_{re.escape(run_cfg["name"])}_[0-9a-f]{{5}}$')
    for unique in sorted((d for d in os.listdir(root) if pattern.match(d)), reverse=True):
        cfg_path = osp.join(GEN_CONFIG_DIR, exp_name, f'{unique}.py')
        if osp.isfile(cfg_path) and find_latest_checkpoint(osp.join(root, unique)):
            return cfg_path
    return None


def launch(cfg_path, args):
    """Train in-process (as MIC), or under torchrun for several GPUs."""
    if args.gpus > 1:
        done = subprocess.run([sys.executable, '-m', 'torch.distributed.run',
                               f'--nproc_per_node={args.gpus}', 'tools/train.py',
                               *train_args(cfg_path, args), '--launcher', 'pytorch'])
        if done.returncode:
            raise UserError(f'distributed training of {cfg_path} failed (exit status '
                            f'{done.returncode}); see the messages above.')
        return
    from tools.train import main as train_main
    train_main(train_args(cfg_path, args))


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    runs = generate_runs(args)
    if (args.resume_from or args.auto_resume) and len(runs) != 1:
        raise UserError('--resume-from/--auto-resume need exactly one run (use --config).')
    for run_cfg, exp_name in runs:
        child = child_config(run_cfg, exp_name, args)
        if args.dry_run:
            path = write_config(child, exp_name, suffix='.dry-run')
            try:
                print(f'# {child["name"]}\n{load_config(path).pretty_text}')
            finally:
                os.remove(path)
            continue
        cfg_path = previous_run_config(run_cfg, exp_name) if args.auto_resume else None
        if cfg_path is None:
            cfg_path = write_config(child, exp_name)
        print(f'Run config: {cfg_path}', flush=True)
        launch(cfg_path, args)


def cli():
    run_cli(main)


if __name__ == '__main__':
    cli()
