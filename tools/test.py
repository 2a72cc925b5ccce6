"""Evaluate, visualise or format the predictions of a trained segmentor (MIC's tools/test.py).

    python -m tools.test CONFIG CHECKPOINT --eval mIoU --show-dir DIR --opacity 1

Works with plain segmentor checkpoints and MIC's UDA checkpoints (the student is tested unless
`--which ema_model`), on a GPU when one is visible, else on the CPU.
"""
import argparse
import os
import os.path as osp
import sys

if __package__ in (None, ''):  # `python tools/test.py` from the repository root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmseg  # noqa: E402,F401  (before mmcv: it silences mmcv's 2.0 notice)
import mmcv  # noqa: E402
import torch  # noqa: E402
from mmcv.runner import get_dist_info  # noqa: E402
from mmcv.utils import DictAction  # noqa: E402

from mmseg.apis.inference import init_segmentor  # noqa: E402
from mmseg.apis.test import (multi_gpu_test, remove_efficient_test_files,  # noqa: E402
                             single_gpu_test)
from mmseg.apis.train import wrap_model  # noqa: E402
from mmseg.core.runner.launch import init_distributed  # noqa: E402
from mmseg.datasets import build_dataloader, build_dataset  # noqa: E402
from mmseg.apis.config_checks import build_with_clear_errors, load_config  # noqa: E402
from mmseg.utils.device import select_device  # noqa: E402
from mmseg.utils.errors import UserError, run_cli  # noqa: E402

AUG_TEST_RATIOS = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
# --hrda-out: what to change in `model.decode_head` (as MIC's tools/test.py).
HRDA_OUTPUTS = {'': {}, 'LR': dict(fixed_attention=0.0), 'HR': dict(fixed_attention=1.0),
                'ATT': dict(debug_output_attention=True)}
# Config renames for checkpoints of older DAFormer/HRDA code (MIC's update_legacy_cfg).
LEGACY_TYPES = {'UniHead': 'DAFormerHead', 'MultiResEncoderDecoder': 'HRDAEncoderDecoder',
                'MultiResAttentionWrapper': 'HRDAHead'}


def parse_args(args):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--aug-test', action='store_true',
                        help='multi-scale (x0.5..1.75) and flip test-time augmentation')
    parser.add_argument('--inference-mode', choices=['same', 'whole', 'slide'], default='same',
                        help='keep the config test_cfg.mode or force whole/slide inference')
    parser.add_argument('--test-set', action='store_true',
                        help="use the test split: 'val' -> 'test' in every data.test string")
    parser.add_argument('--hrda-out', choices=list(HRDA_OUTPUTS), default='',
                        help='HRDA only: LR or HR prediction alone, or the ATTention map')
    parser.add_argument('--out', help='pickle file for the raw predictions')
    parser.add_argument('--format-only', action='store_true',
                        help='only write the predictions in the submission format '
                             '(--eval-options imgfile_prefix=DIR [to_label_id=False])')
    parser.add_argument('--eval', type=str, nargs='+', help='metrics, e.g. mIoU or cityscapes')
    parser.add_argument('--show', action='store_true', help='show the predictions')
    parser.add_argument('--show-dir', help='folder for one prediction image per test image')
    parser.add_argument('--gpu-collect', action='store_true',
                        help='collect distributed results through the GPU')
    parser.add_argument('--tmpdir', help='folder for collecting distributed results (a fresh '
                                         'sub-folder is created and removed inside it)')
    parser.add_argument('--cfg-options', '--options', nargs='+', action=DictAction,
                        dest='cfg_options', help='override config settings, e.g. data.test.x=y')
    parser.add_argument('--eval-options', nargs='+', action=DictAction,
                        help='arguments of dataset.evaluate / format_results')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--opacity', type=float, default=0.5,
                        help='prediction opacity over the image; 1 saves paletted train-id PNGs')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    parser.add_argument('--unsafe-load', action='store_true',
                        help='allow checkpoints that need full unpickling (trusted files only)')
    parser.add_argument('--which', choices=['model', 'ema_model'], default='model',
                        help='weights of a UDA checkpoint: the student (MIC) or the EMA teacher')
    args = parser.parse_args(args)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def check_args(args) -> None:
    """The combinations MIC asserts on, as user errors; and never write over the checkpoint."""
    if not (args.out or args.eval or args.format_only or args.show or args.show_dir):
        raise UserError('nothing to do: give at least one of --out, --eval, --format-only, '
                        '--show or --show-dir.')
    if args.eval and args.format_only:
        raise UserError('--eval and --format-only cannot be combined.')
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise UserError(f'--out {args.out}: the output file must end with .pkl or .pickle.')
        if osp.exists(args.checkpoint) and osp.exists(args.out) \
                and osp.samefile(args.out, args.checkpoint):
            raise UserError(f'--out {args.out} is the checkpoint itself; choose another file.')
    if args.launcher != 'none' and (args.show or args.show_dir):
        raise UserError('--show/--show-dir need the single-process launcher (--launcher none).')
    if args.format_only and 'imgfile_prefix' not in (args.eval_options or {}):
        raise UserError('--format-only needs the output folder: '
                        '--eval-options imgfile_prefix=DIR [to_label_id=True|False].')


def update_legacy_cfg(cfg: mmcv.Config) -> mmcv.Config:
    """Make configs saved by older DAFormer/HRDA code loadable (as MIC's tools/test.py).

    The JSON-dumped configs turn tuples into lists, so test/val `img_scale` become tuples again;
    old class names are renamed (UniHead also drops `fusion`); `ema_drop_path_rate` goes.
    """
    for split in ('test', 'val'):
        pipeline = cfg.data.get(split, {}).get('pipeline', [])
        if len(pipeline) > 1 and pipeline[1].get('img_scale') is not None:
            pipeline[1]['img_scale'] = tuple(pipeline[1]['img_scale'])
    model = cfg.model
    if model.decode_head.get('type') == 'UniHead':
        model.decode_head.get('decoder_params', {}).get('fusion_cfg', {}).pop('fusion', None)
    for module in (model, model.decode_head):
        module.type = LEGACY_TYPES.get(module.get('type'), module.get('type'))
    model.backbone.pop('ema_drop_path_rate', None)
    return cfg


def set_inference_mode(cfg: mmcv.Config, mode: str) -> None:
    """`--inference-mode`: slide uses the training crop and half of it as stride, batched."""
    if mode == 'same':
        return
    if cfg.model.get('test_cfg') is None:
        cfg.model.test_cfg = mmcv.ConfigDict()
    cfg.model.test_cfg.mode = mode
    print(f'Force {mode} inference.')
    if mode == 'slide':
        crop = cfg.data.get('train', {}).get('sync_crop_size', cfg.get('crop_size'))
        if crop is None:
            raise UserError('--inference-mode slide needs `crop_size` (or '
                            'data.train.sync_crop_size) in the config.')
        cfg.model.test_cfg.crop_size = crop
        cfg.model.test_cfg.stride = [int(e / 2) for e in crop]
        cfg.model.test_cfg.batched_slide = True


def set_hrda_output(cfg: mmcv.Config, hrda_out: str) -> None:
    """`--hrda-out LR|HR|ATT`: only the LR or HR branch, or the attention map (as MIC's test.py)."""
    if not hrda_out:
        return
    if cfg.model.decode_head.get('type') != 'HRDAHead':
        raise UserError(f'--hrda-out {hrda_out} needs an HRDA model (model.decode_head.type '
                        f"'HRDAHead'), but the config has '{cfg.model.decode_head.get('type')}'.")
    cfg.model.decode_head.update(HRDA_OUTPUTS[hrda_out])


def prepare_config(args) -> mmcv.Config:
    cfg = update_legacy_cfg(load_config(args.config, args.cfg_options))
    if cfg.get('cudnn_benchmark', False):
        torch.backends.cudnn.benchmark = True
    if args.aug_test:
        cfg.data.test.pipeline[1].img_ratios = AUG_TEST_RATIOS
        cfg.data.test.pipeline[1].flip = True
    cfg.data.test.test_mode = True
    set_inference_mode(cfg, args.inference_mode)
    if args.test_set:
        for key, value in cfg.data.test.items():
            if isinstance(value, str):
                cfg.data.test[key] = value.replace('val', 'test')
    set_hrda_output(cfg, args.hrda_out)
    return cfg


def result_mode(args, eval_kwargs: dict) -> dict:
    """What the test loop keeps per image (see `single_gpu_test`).

    --out and --format-only keep MIC's raw maps (the dataset formats all of them at the end);
    --eval alone streams pre_eval statistics; efficient_test spills maps to .npy files, and
    --eval cityscapes implies it (the official script reads every map at the end).
    """
    raw_maps = bool(args.out or args.format_only)
    efficient_test = (bool(eval_kwargs.pop('efficient_test', False))
                      or 'cityscapes' in (args.eval or [])) and not args.format_only
    return dict(efficient_test=efficient_test,
                pre_eval=bool(args.eval) and not (raw_maps or efficient_test))


def print_iou(metrics: dict) -> None:
    """MIC's last lines: the IoU keys, then their values x 100 rounded to 1 decimal."""
    iou = {k: float(v) for k, v in metrics.items() if 'IoU' in k}
    print(list(iou))
    print([round(v * 100, 1) for v in iou.values()])


def main(args=None):
    args = parse_args(sys.argv[1:] if args is None else args)
    check_args(args)
    cfg = prepare_config(args)
    if not osp.isfile(args.checkpoint):
        raise UserError(f'checkpoint file {args.checkpoint} does not exist.')
    distributed = args.launcher != 'none'
    if distributed:
        init_distributed(args.launcher, cfg.get('dist_params', {}))

    dataset = build_with_clear_errors(build_dataset, cfg.data.test, 'data.test')
    data_loader = build_dataloader(dataset, samples_per_gpu=1,
                                   workers_per_gpu=cfg.data.get('workers_per_gpu', 0),
                                   dist=distributed, shuffle=False)
    model = init_segmentor(cfg, args.checkpoint, device='cpu', which=args.which,
                           unsafe=args.unsafe_load)
    if model.CLASSES is None:
        print('"CLASSES" not found in meta, use dataset.CLASSES instead')
        model.CLASSES = dataset.CLASSES
    if model.PALETTE is None:
        print('"PALETTE" not found in meta, use dataset.PALETTE instead')
        model.PALETTE = dataset.PALETTE
    model = wrap_model(model, select_device(distributed=distributed))

    eval_kwargs = dict(args.eval_options or {})
    mode = result_mode(args, eval_kwargs)
    if distributed:
        outputs = multi_gpu_test(model, data_loader, args.tmpdir, args.gpu_collect, **mode)
    else:
        keep = bool(args.out or args.eval or args.format_only)
        outputs = single_gpu_test(model, data_loader, args.show, args.show_dir,
                                  opacity=args.opacity, keep_results=keep, **mode)

    if get_dist_info()[0] != 0:
        return
    if args.out:
        print(f'\nwriting results to {args.out}')
        mmcv.dump(outputs, args.out)
    if args.format_only:
        files, _ = dataset.format_results(outputs, **eval_kwargs)
        print(f"\nwrote {len(files)} predictions to {eval_kwargs['imgfile_prefix']}")
    if args.eval:
        metrics = dataset.evaluate(outputs, args.eval, **eval_kwargs)
        print_iou(metrics)
    if mode['efficient_test'] and not args.out:
        remove_efficient_test_files(outputs)


def cli(args=None):
    """Run `main`, turning user errors into one message on stderr and exit status 1."""
    run_cli(main, args)


if __name__ == '__main__':
    cli()
