"""Speed, memory and FLOPs of the real training step or inference path (docs/results/speed.md).

    python tools/benchmark.py CONFIG --mode train|test|optimizer [--iters N --warmup W]
                              [--small [--keep-encoder]] [--cfg-options KEY=VALUE ...]

Inputs are random tensors of the config's true sizes (no dataset is read): training uses the
train pipeline's crop size and `data.samples_per_gpu` source + target images, test one image
of the test pipeline's `img_scale` through `simple_test` (slide inference as configured).
Weights are random (`pretrained=None`). `--mode optimizer` times the config's optimizer step
alone over the UDA model's parameter groups, with fixed random gradients on the student (compare
`--cfg-options optimizer.foreach=False`, torch's per-group step). Prints ONE JSON line on stdout.

FLOPs are counted with `torch.utils.flop_counter.FlopCounterMode` over one forward-only run
of the same step (each pass's backward disabled, no optimizer step). A training iteration is
counted as 3x the forward FLOPs of the student passes plus the forward FLOPs of the
gradient-free passes (EMA teacher pseudo-labels, ImageNet feature distance), because the
counter over-counts the backward of depthwise convolutions about 4x (docs/results/speed.md).

`--small` applies the documented 1/8-scale override set `SMALL_OVERRIDES` (MiT-B0 encoder,
128 px crops, 64 px HR crops, a 128x256 test image with 128 px windows), for CPUs. It swaps MiT
encoders only; `--small --keep-encoder` keeps the config's encoder (and the decoder's input
channels) and applies the sizes alone. That is how a ViT config is timed on a CPU: a ViT-L has no
smaller model of the same weights and width, and the figure is meant to show what the ViT-L costs,
so the MiT comparison is MiT-B5 at the same sizes (`--small --keep-encoder` on the MiT config).

Parameter counts of the student segmentor (encoder, pyramid, decode head, total, trainable)
come with the FLOPs.
"""
import argparse
import json
import logging
import os.path as osp
import resource
import statistics
import sys
import time
from contextlib import nullcontext

if __package__ in (None, ''):  # `python tools/benchmark.py` from the repository root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmcv.runner import build_optimizer  # noqa: E402
from mmcv.utils import DictAction  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count  # noqa: E402

from mmseg.apis.performance import configure_performance  # noqa: E402
from mmseg.models.builder import build_segmentor, build_train_model  # noqa: E402
from mmseg.models.uda.uda_decorator import MIXED_PRECISION_DTYPES  # noqa: E402
from mmseg.apis.config_checks import build_with_clear_errors, load_config  # noqa: E402
from mmseg.utils.errors import UserError, run_cli  # noqa: E402

# 1/8 of the real HRDA sizes (1024 px crops -> 128, 512 px detail crops -> 64, a 1024x2048
# Cityscapes test image -> 128x256) with the smallest encoder; the decoder keeps its width.
SMALL_OVERRIDES = {
    'model.backbone.type': 'mit_b0',
    'model.decode_head.in_channels': [32, 64, 160, 256],
    'model.hr_crop_size': (64, 64),
    'model.test_cfg.crop_size': [128, 128],
    'model.test_cfg.stride': [64, 64],
    'crop_size': (128, 128),
    'test_size': (128, 256),
}

# The keys of SMALL_OVERRIDES that swap the encoder (left out by --keep-encoder).
ENCODER_OVERRIDES = ('model.backbone.type', 'model.decode_head.in_channels')
# Backbones --small may swap for MiT-B0 (their configs take MiT-B0's arguments).
MIT_BACKBONES = ('mit_b0', 'mit_b1', 'mit_b2', 'mit_b3', 'mit_b4', 'mit_b5')

# Dense bf16 TFLOP/s used for the utilisation figure (H100/H200: measured).
PEAK_BF16_TFLOPS = {'H100': 790.0, 'H200': 790.0, 'A100': 312.0}

NUM_CLASSES_DEFAULT = 19
LABEL_BLOCK = 32  # random labels are constant on 32x32 blocks, so label purity rules pass


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Benchmark the UDA training step or inference')
    parser.add_argument('config')
    parser.add_argument('--mode', choices=['train', 'test', 'optimizer'], default='train')
    parser.add_argument('--iters', type=int, default=5, help='timed iterations')
    parser.add_argument('--warmup', type=int, default=1, help='untimed iterations first')
    parser.add_argument('--small', action='store_true',
                        help='1/8-scale CPU override set (see SMALL_OVERRIDES)')
    parser.add_argument('--keep-encoder', action='store_true',
                        help="with --small: keep the config's encoder (e.g. a ViT), apply only "
                             'the 1/8 sizes')
    parser.add_argument('--device', default=None, help='cuda or cpu (default: cuda if any)')
    parser.add_argument('--no-flops', action='store_true', help='skip the FLOP count')
    parser.add_argument('--flops-only', action='store_true',
                        help='only count FLOPs (no timed iterations; full sizes on a CPU)')
    parser.add_argument('--peak-tflops', type=float, default=None,
                        help='bf16 peak of the GPU for the utilisation figure '
                             f'(default by device name: {PEAK_BF16_TFLOPS})')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='config overrides, e.g. uda.pseudo_threshold=0.0')
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------- configuration
def pipeline_crop_size(cfg):
    """(h, w) of the source training crop: the first RandomCrop of the train pipeline."""
    train = cfg.data.train
    source = train.get('source', train)
    for step in source.pipeline:
        if step['type'] == 'RandomCrop':
            return tuple(step['crop_size'])
    raise UserError('benchmark: no RandomCrop in the train pipeline; pass --small or add one')


def pipeline_test_size(cfg):
    """(h, w) of the test image: MultiScaleFlipAug's img_scale (w, h) with keep_ratio."""
    for step in cfg.data.test.pipeline:
        if step['type'] == 'MultiScaleFlipAug':
            scale = step['img_scale']
            scale = scale[0] if isinstance(scale, list) else scale
            return int(min(scale)), int(max(scale))
    raise UserError('benchmark: no MultiScaleFlipAug in the test pipeline')


def prepare_config(args):
    """Load the config, apply --small and --cfg-options, drop pretrained weights."""
    cfg = load_config(args.config)
    sizes = dict(crop_size=pipeline_crop_size(cfg), test_size=pipeline_test_size(cfg))
    if args.keep_encoder and not args.small:
        raise UserError('benchmark: --keep-encoder only modifies --small; pass both')
    if args.small:
        small = dict(SMALL_OVERRIDES)
        if args.keep_encoder:
            for key in ENCODER_OVERRIDES:
                small.pop(key)
        elif cfg.model.backbone.type not in MIT_BACKBONES:
            raise UserError(
                f'benchmark --small swaps the MiT encoder for MiT-B0, but this config\'s '
                f'backbone is {cfg.model.backbone.type}; add --keep-encoder to keep it and '
                f'apply only the 1/8 sizes (compare with a MiT config under the same flags)')
        sizes.update(crop_size=small.pop('crop_size'), test_size=small.pop('test_size'))
        cfg.merge_from_dict(small)
    cfg.merge_from_dict(args.cfg_options)
    cfg.model.pretrained = None
    cfg.model.backbone.pretrained = None
    cfg.model.backbone.pop('init_cfg', None)
    return cfg, sizes


def pick_device(name):
    if name is None:
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    return torch.device(name)


# ---------------------------------------------------------------------------- random inputs
def img_metas(cfg, batch, h, w):
    norm = cfg.get('img_norm_cfg', dict(mean=[123.675, 116.28, 103.53],
                                        std=[58.395, 57.12, 57.375], to_rgb=True))
    return [dict(ori_shape=(h, w, 3), img_shape=(h, w, 3), pad_shape=(h, w, 3),
                 scale_factor=1.0, flip=False, flip_direction=None, img_norm_cfg=norm,
                 filename=f'random_{i}.png', ori_filename=f'random_{i}.png')
            for i in range(batch)]


def random_labels(batch, h, w, num_classes, device):
    """(B, 1, H, W) long labels constant on LABEL_BLOCK blocks (realistic label purity)."""
    coarse = torch.randint(0, num_classes, (batch, 1, -(-h // LABEL_BLOCK), -(-w // LABEL_BLOCK)))
    labels = coarse.repeat_interleave(LABEL_BLOCK, 2).repeat_interleave(LABEL_BLOCK, 3)
    return labels[:, :, :h, :w].to(device)


def train_batch(cfg, crop_size, device):
    batch = cfg.data.samples_per_gpu
    h, w = crop_size
    num_classes = cfg.model.decode_head.get('num_classes', NUM_CLASSES_DEFAULT)
    data = dict(img=torch.randn(batch, 3, h, w, device=device),
                img_metas=img_metas(cfg, batch, h, w),
                gt_semantic_seg=random_labels(batch, h, w, num_classes, device),
                target_img=torch.randn(batch, 3, h, w, device=device),
                target_img_metas=img_metas(cfg, batch, h, w))
    if cfg.data.train.get('target', {}).get('crop_pseudo_margins') is not None:
        data['valid_pseudo_mask'] = torch.ones(batch, 1, h, w, dtype=torch.uint8, device=device)
    if cfg.data.train.get('debug_gt', False):
        data['target_gt_semantic_seg'] = random_labels(batch, h, w, num_classes, device)
    return data


# ---------------------------------------------------------------------------- FLOPs
def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    return sdpa_flop_count(query_shape, key_shape, value_shape)


# torch's counter knows the CUDA kernels of `F.scaled_dot_product_attention` (flash, efficient,
# cuDNN) but not the CPU flash kernel, so on a CPU it counted no attention FLOPs at all (for a
# ViT block at 37 x 37 tokens about a fifth of its FLOPs); the CPU kernel gets the same formula.
CPU_SDPA_FLOPS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}


def flop_counter() -> FlopCounterMode:
    return FlopCounterMode(display=False, custom_mapping=CPU_SDPA_FLOPS)


# ---------------------------------------------------------------------------- runners
def parameter_counts(segmentor):
    """Parameters of a segmentor: the encoder (the backbone without its feature pyramid, e.g.
    a ViT-Adapter), the pyramid (0 for MiT), the decode head, all, and those that train."""
    def count(params):
        return sum(p.numel() for p in params)

    pyramid = getattr(segmentor.backbone, 'pyramid', None)
    pyramid_params = count(pyramid.parameters()) if pyramid is not None else 0
    return dict(params_encoder=count(segmentor.backbone.parameters()) - pyramid_params,
                params_pyramid=pyramid_params,
                params_head=count(segmentor.decode_head.parameters()),
                params_total=count(segmentor.parameters()),
                params_trainable=count(p for p in segmentor.parameters() if p.requires_grad))


class TrainRunner:
    """The real UDA step: `model.train_step` with the config's optimizer."""

    def __init__(self, cfg, sizes, device):
        if 'uda' not in cfg:
            raise UserError('benchmark --mode train needs a UDA config (with a `uda` section)')
        self.model = build_with_clear_errors(build_train_model, cfg, 'model/uda')
        self.model.init_weights()
        self.model.to(device).train()
        configure_performance(self.model, cfg)
        self.optimizer = build_optimizer(self.model, cfg.optimizer)
        self.data = train_batch(cfg, sizes['crop_size'], device)
        self.images = 2 * cfg.data.samples_per_gpu
        self.dtype = self.model.mixed_precision

    def step(self):
        return self.model.train_step(self.data, self.optimizer)

    def count_flops(self):
        """Training FLOPs = 3 x student forward + forward of the gradient-free passes, and the
        student's parameter counts."""
        model = self.model
        no_grad_flops = []

        def counted(method):
            def run(*args, **kwargs):
                with flop_counter() as inner:
                    out = method(*args, **kwargs)
                no_grad_flops.append(inner.get_total_flops())
                return out
            return run

        patched = dict(backward=lambda loss, retain_graph=False: None,
                       teacher_predict=counted(model.teacher_predict))
        if getattr(model, 'enable_fdist', False):
            patched['calc_feat_dist'] = counted(model.calc_feat_dist)
        for name, fn in patched.items():
            setattr(model, name, fn)
        local_iter = model.local_iter
        try:
            with torch.no_grad(), flop_counter() as total:
                model.forward_train(**self.data)
        finally:
            for name in patched:
                delattr(model, name)
            model.local_iter = local_iter
            if getattr(model, 'fpc', None) is not None:
                model.fpc.anchor_buffer = []
        no_grad = sum(no_grad_flops)
        student = total.get_total_flops() - no_grad
        return dict(flops_per_iter=3 * student + no_grad, flops_forward_student=student,
                    flops_forward_no_grad=no_grad, **parameter_counts(model.get_model()))


class TestRunner:
    """The real inference path: the student's `simple_test` on one test-size image."""

    def __init__(self, cfg, sizes, device):
        self.model = build_with_clear_errors(build_segmentor, cfg.model, 'model')
        self.model.init_weights()
        self.model.to(device).eval()
        configure_performance(self.model, cfg)
        h, w = sizes['test_size']
        self.img = torch.randn(1, 3, h, w, device=device)
        self.metas = img_metas(cfg, 1, h, w)
        self.images = 1
        self.dtype = cfg.get('mixed_precision')
        dtype = MIXED_PRECISION_DTYPES[self.dtype]
        self.autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype \
            else nullcontext

    def step(self):
        with torch.inference_mode(), self.autocast():
            return self.model.simple_test(self.img, self.metas, rescale=True)

    def count_flops(self):
        with flop_counter() as counter:
            self.step()
        return dict(flops_per_iter=counter.get_total_flops(), **parameter_counts(self.model))


class OptimizerRunner:
    """The optimizer step alone, over the same parameter groups as the training step."""

    def __init__(self, cfg, sizes, device):
        build = build_train_model if 'uda' in cfg else build_segmentor
        model = build_with_clear_errors(build, cfg if 'uda' in cfg else cfg.model, 'model/uda')
        model.to(device).train()
        self.optimizer = build_optimizer(model, cfg.optimizer)
        student = model.get_model() if hasattr(model, 'get_model') else model
        for param in student.parameters():
            param.grad = torch.randn_like(param)
        self.param_groups = len(self.optimizer.param_groups)
        self.images = 2 * cfg.data.samples_per_gpu  # those of the training step it belongs to
        self.dtype = None

    def step(self):
        self.optimizer.step()

    def count_flops(self):
        return dict(flops_per_iter=None)  # elementwise updates, not counted


# ---------------------------------------------------------------------------- measurement
def synchronize(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def peak_memory_mb(device):
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def default_peak_tflops(device):
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_TFLOPS.items():
        if key in name:
            return value
    return None


def run_benchmark(args):
    torch.manual_seed(args.seed)
    logging.getLogger('mmcv').setLevel(logging.WARNING)
    cfg, sizes = prepare_config(args)
    device = pick_device(args.device)
    runner = dict(train=TrainRunner, test=TestRunner,
                  optimizer=OptimizerRunner)[args.mode](cfg, sizes, device)
    if args.flops_only:
        return dict(config=args.config, mode=args.mode, small=args.small,
                    keep_encoder=args.keep_encoder, crop_size=list(sizes['crop_size']),
                    test_size=list(sizes['test_size']), images_per_iter=runner.images,
                    **runner.count_flops())
    times = []
    for i in range(args.warmup + args.iters):
        synchronize(device)
        start = time.perf_counter()
        runner.step()
        synchronize(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    result = dict(config=args.config, mode=args.mode, small=args.small,
                  keep_encoder=args.keep_encoder,
                  device=torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
                  threads=torch.get_num_threads(), dtype=runner.dtype or 'fp32',
                  mixed_precision=runner.dtype, crop_size=list(sizes['crop_size']),
                  test_size=list(sizes['test_size']), images_per_iter=runner.images,
                  iters=args.iters, warmup=args.warmup, s_per_iter=median,
                  s_per_iter_min=min(times), s_per_iter_max=max(times),
                  images_per_s=runner.images / median,
                  peak_memory_mb=peak_memory_mb(device),
                  peak_memory_kind='cuda_max_allocated' if device.type == 'cuda' else 'rss',
                  channels_last=bool(cfg.get('channels_last', False)),
                  compile_backbone=bool(cfg.get('compile_backbone', False)),
                  fused_optimizer=bool(cfg.optimizer.get('fused', False)),
                  foreach_optimizer=cfg.optimizer.get('foreach'))
    if args.mode == 'optimizer':
        result['param_groups'] = runner.param_groups
    if not args.no_flops:
        result.update(runner.count_flops())
        if device.type == 'cuda' and result['flops_per_iter']:
            tflops = result['flops_per_iter'] / median / 1e12
            peak = args.peak_tflops or default_peak_tflops(device)
            result['achieved_tflops'] = tflops
            result['peak_bf16_tflops'] = peak
            result['fraction_of_bf16_peak'] = tflops / peak if peak else None
    return result


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = run_cli(run_benchmark, args)
    print(json.dumps(result), flush=True)


if __name__ == '__main__':
    main()
