"""An "ImageNet stand-in" for the synthetic benchmark: pretrain a small backbone on a third look.

Why: in the real setting the student starts from ImageNet weights and the ImageNet feature
distance pulls its thing-class features towards them; a proxy trained from random init misses
that regime. This step pretrains the small MiT on generated street scenes of a THIRD look (its
own hue-rotated palette, textures, lighting and noise: neither the GTA-like source nor the
Cityscapes-like target) with a throw-away dense head, and writes the backbone alone in the
format its real `pretrained=` loading path reads, which the real feature distance
(`imnet_model`) then uses too:

- `--backbone mit_b0` (default): MiT-B0 in SegFormer's raw key format (`patch_embed1.proj.weight`,
  `block1.0.attn.q.weight`, ...), to pretrained/mit_b0_synthetic.pth.
- `--backbone vit_tiny`: a small DINOv3-architecture ViT (`VIT_STANDIN`) in timm's own state-dict
  format (`patch_embed.proj.weight`, `blocks.0.attn.qkv.weight`, ...), which `TimmViT` loads, to
  pretrained/vit_tiny_synthetic.pth. Its pyramid is trained here but not saved: in the real
  setting a DINOv2/DINOv3 checkpoint holds the ViT alone, and the pyramid starts random.

    python tools/synthetic/pretrain.py [--backbone mit_b0|vit_tiny] [--out PATH] [--iters 400]

Cached: `<out>.json` records the settings; a rerun with the same settings is a no-op. Seeded:
the images come from the generator's per-image seeds and torch is seeded with --seed. Prints the
time and the pixel accuracy / mIoU on held-out images of the stand-in look.
"""
import argparse
import colorsys
import dataclasses
import json
import logging
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

if __package__ in (None, ''):  # run as a script: make `tools` importable from the repo root
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from tools.synthetic import generate as synthetic  # noqa: E402

# Domain code of the stand-in's per-image seeds (the generator's use 1..4).
STANDIN, STANDIN_VAL = 11, 12
NUM_CLASSES = 19
# Normalisation of the benchmark configs (configs/demo/_base_/synthetic_data.py), RGB order.
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)
# The ViT stand-in (`--backbone vit_tiny`): timm's DINOv3 architecture (patch 16, rotary position
# embeddings, 4 register tokens, layer scale) at ViT-Ti's width (192, 3 heads of 64) and half its
# depth (6 blocks): 3.3 M parameters and about MiT-B0's training time on a CPU at 128 px, where
# patch 16 tiles the 128 px crops and HRDA's 64 px crops exactly (patch 14 would resize them).
VIT_STANDIN = dict(model_name='vit_small_patch16_dinov3',
                   model_kwargs=dict(embed_dim=192, depth=6, num_heads=3))
VIT_BACKBONE = 'vit_tiny'
# The stand-ins the benchmark configs use (at `default_out`).
STANDIN_BACKBONES = ('mit_b0', VIT_BACKBONE)


def standin_style() -> synthetic.DomainStyle:
    """The stand-in look: the source palette with every hue turned by 140 degrees, stronger
    per-instance colour jitter, coarser textures, a little blur and noise, dusk-like grading."""
    def turn(rgb: Sequence[float]) -> Tuple[float, float, float]:
        h, s, v = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
        return tuple(255.0 * c for c in colorsys.hsv_to_rgb((h + 140 / 360) % 1.0, s, v))

    src = synthetic.source_style()
    return dataclasses.replace(
        src, palette={k: turn(v) for k, v in src.palette.items()},
        vehicle_colours=tuple(turn(v) for v in src.vehicle_colours), colour_jitter=0.2,
        texture_scale=1.35, texture_contrast=0.8, saturation=1.0, contrast=0.95, brightness=-5.0,
        gamma=1.05, cast=(1.0, 0.95, 1.05), sun=0.1, vignette=0.15, blur_sigma=0.5,
        noise_sigma=3.0, object_scale=0.95, horizon=(0.33, 0.45))


def train_id_lut() -> np.ndarray:
    """Cityscapes label id -> train id (255 = ignored), as the Cityscapes converter maps."""
    from cityscapesscripts.helpers.labels import labels
    lut = np.full(256, 255, np.uint8)
    for lab in labels:
        if 0 <= lab.id < 256 and 0 <= lab.trainId < NUM_CLASSES:
            lut[lab.id] = lab.trainId
    return lut


def make_images(num: int, domain: int, size: Tuple[int, int], seed: int
                ) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 3, H, W) normalised float32 images and (N, H, W) int64 train-id labels."""
    style, lut = standin_style(), train_id_lut()
    imgs, labels = [], []
    for i in range(num):
        img, internal = synthetic.generate_sample(
            seed, domain, i, size, style,
            synthetic.FORCED_CYCLE[i % len(synthetic.FORCED_CYCLE)])
        imgs.append(((img.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1))
        labels.append(lut[synthetic.cityscapes_label_ids(internal)])
    return np.stack(imgs), np.stack(labels).astype(np.int64)


def build_model(backbone_type: str):
    """MiT (a registered `mit_b*` name) or the ViT stand-in (`VIT_BACKBONE`, a TimmViT with its
    default simple pyramid) + a throw-away all-MLP head (one 1x1 projection per stage, summed
    at 1/4)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from mmseg.models.builder import BACKBONES

    class DenseHead(nn.Module):
        def __init__(self, in_channels: Sequence[int], channels: int = 64):
            super().__init__()
            self.proj = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
            self.fuse = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                                      nn.Conv2d(channels, NUM_CLASSES, 1))

        def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
            size = feats[0].shape[-2:]
            x = sum(F.interpolate(p(f), size=size, mode='bilinear', align_corners=False)
                    for p, f in zip(self.proj, feats))
            return self.fuse(x)

    if backbone_type == VIT_BACKBONE:
        from tools.train import quiet_init_report
        backbone = BACKBONES.build(dict(type='TimmViT', **VIT_STANDIN))
        with quiet_init_report(logging.getLogger('mmcv')):  # the pyramid's mmcv init report
            backbone.init_weights()
        return backbone, DenseHead(backbone.out_channels)
    backbone = BACKBONES.build(dict(type=backbone_type, style='pytorch'))
    backbone.init_weights()
    return backbone, DenseHead(backbone.embed_dims)


def backbone_weights(backbone) -> Dict:
    """What the stand-in file holds: the whole MiT; of a TimmViT only the timm ViT (`vit.*`
    without its prefix), the layout `TimmViT.load_pretrained` reads."""
    vit = getattr(backbone, 'vit', None)
    return (vit if vit is not None else backbone).state_dict()


def default_out(backbone: str) -> str:
    """Where the stand-in of `backbone` goes (and where the benchmark configs expect it)."""
    return f'pretrained/{backbone}_synthetic.pth'


def settings_of(args: argparse.Namespace) -> Dict:
    """The cache key. The ViT's architecture is part of it; MiT's key is unchanged, so cached
    MiT stand-ins stay valid."""
    settings = dict(backbone=args.backbone, iters=args.iters, batch_size=args.batch_size,
                    lr=args.lr, num_train=args.num_train, num_val=args.num_val,
                    crop=args.crop, size=list(args.size), seed=args.seed, style='standin_v1')
    if args.backbone == VIT_BACKBONE:
        settings['vit'] = VIT_STANDIN
    return settings


def pretrain(args: argparse.Namespace) -> Dict:
    """Train backbone + head with cross-entropy on random crops; return the val metrics."""
    import torch
    from torch.nn import functional as F

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    start = time.time()
    imgs, labels = make_images(args.num_train, STANDIN, tuple(args.size), args.seed)
    val_imgs, val_labels = make_images(args.num_val, STANDIN_VAL, tuple(args.size), args.seed)
    print(f'[pretrain] generated {args.num_train} + {args.num_val} stand-in images in '
          f'{time.time() - start:.0f} s', flush=True)
    backbone, head = build_model(args.backbone)
    params = list(backbone.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr,
                                                   total_steps=args.iters, pct_start=0.1)
    crop, (h, w) = args.crop, args.size
    backbone.train(), head.train()
    for it in range(args.iters):
        idx = rng.integers(0, len(imgs), args.batch_size)
        y0 = rng.integers(0, h - crop + 1)
        x0 = rng.integers(0, w - crop + 1)
        x = torch.from_numpy(imgs[idx, :, y0:y0 + crop, x0:x0 + crop])
        y = torch.from_numpy(labels[idx, y0:y0 + crop, x0:x0 + crop])
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        logits = F.interpolate(head(backbone(x)), size=(crop, crop), mode='bilinear',
                               align_corners=False)
        loss = F.cross_entropy(logits, y, ignore_index=255)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if (it + 1) % max(1, args.iters // 10) == 0:
            print(f'[pretrain] iter {it + 1}/{args.iters} loss {loss.item():.3f} '
                  f'({time.time() - start:.0f} s)', flush=True)
    metrics = evaluate(backbone, head, val_imgs, val_labels)
    metrics['seconds'] = round(time.time() - start, 1)
    return dict(metrics=metrics, state_dict=backbone_weights(backbone))


def evaluate(backbone, head, imgs: np.ndarray, labels: np.ndarray) -> Dict:
    """Pixel accuracy and mIoU (%, classes present in the labels) on whole val images."""
    import torch
    from torch.nn import functional as F

    backbone.eval(), head.eval()
    inter = np.zeros(NUM_CLASSES)
    union = np.zeros(NUM_CLASSES)
    correct = total = 0
    with torch.no_grad():
        for i in range(0, len(imgs), 8):
            x = torch.from_numpy(imgs[i:i + 8])
            pred = F.interpolate(head(backbone(x)), size=x.shape[-2:], mode='bilinear',
                                 align_corners=False).argmax(1).numpy()
            gt = labels[i:i + 8]
            valid = gt != 255
            correct += int((pred[valid] == gt[valid]).sum())
            total += int(valid.sum())
            for c in range(NUM_CLASSES):
                p, g = (pred == c) & valid, gt == c
                inter[c] += (p & g).sum()
                union[c] += (p | g).sum()
    present = union > 0
    return dict(pixel_acc=round(100.0 * correct / max(1, total), 2),
                mIoU=round(100.0 * float((inter[present] / union[present]).mean()), 2))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Pretrain a small backbone on a third '
                                     'synthetic appearance (the benchmark\'s ImageNet stand-in).')
    parser.add_argument('--out', default=None,
                        help='backbone checkpoint (MiT: SegFormer key format; ViT: timm\'s); '
                        'default: pretrained/<backbone>_synthetic.pth')
    parser.add_argument('--backbone', default='mit_b0',
                        help=f'a MiT (mit_b0, ...) or {VIT_BACKBONE!r} (the ViT stand-in)')
    parser.add_argument('--iters', type=int, default=400)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=40)
    parser.add_argument('--crop', type=int, default=128)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 256), metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--force', action='store_true', help='train even if cached')
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = default_out(args.backbone)
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    """Pretrain unless `<out>` and `<out>.json` hold a run with the same settings."""
    import torch

    from mmseg.utils.errors import UserError

    args = parse_args(argv)
    if args.crop > min(args.size) or min(args.iters, args.batch_size, args.num_train,
                                         args.num_val) < 1:
        raise UserError('--crop must fit --size; --iters, --batch-size, --num-train and '
                        '--num-val must be >= 1.')
    settings = settings_of(args)
    stamp_path = args.out + '.json'
    if not args.force and osp.isfile(args.out) and osp.isfile(stamp_path):
        with open(stamp_path) as f:
            stamp = json.load(f)
        if stamp.get('settings') == settings:
            m = stamp['metrics']
            print(f'[pretrain] cached: {args.out} (stand-in val pixel accuracy '
                  f"{m['pixel_acc']:.1f}%, mIoU {m['mIoU']:.1f}%, trained in "
                  f"{m['seconds']:.0f} s); --force trains again", flush=True)
            return stamp
    result = pretrain(args)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    torch.save(result['state_dict'], args.out)
    stamp = dict(settings=settings, metrics=result['metrics'])
    with open(stamp_path, 'w') as f:
        json.dump(stamp, f, indent=1)
    m = result['metrics']
    print(f"[pretrain] wrote {args.out} in {m['seconds']:.0f} s: stand-in val pixel accuracy "
          f"{m['pixel_acc']:.1f}%, mIoU {m['mIoU']:.1f}%", flush=True)
    return stamp


def cli(argv: Optional[Sequence[str]] = None) -> None:
    """Run `main`; a user error prints its message alone and exits with status 1."""
    from mmseg.utils.errors import run_cli
    run_cli(main, argv)


if __name__ == '__main__':
    cli()
