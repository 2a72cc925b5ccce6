"""tools/synthetic/pretrain.py: a tiny run writes a SegFormer-format mit_b0 checkpoint (or, with
`--backbone vit_tiny`, a timm-format ViT) that the real `pretrained=` path loads strictly, and a
rerun with the same settings is a no-op."""
import os
import subprocess
import sys
from pathlib import Path

import torch

from mmseg.models.builder import BACKBONES
from tools.synthetic.pretrain import VIT_STANDIN, parse_args, settings_of, standin_style
from tools.synthetic import generate as synthetic

REPO = Path(__file__).resolve().parents[3]
TINY = ['--iters', '2', '--batch-size', '1', '--num-train', '2', '--num-val', '1', '--crop',
        '64', '--size', '64', '128']


def _pretrain(out, *extra):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, str(REPO / 'tools' / 'synthetic' / 'pretrain.py'),
                           '--out', str(out), *TINY, *extra], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


def test_tiny_pretraining_writes_weights_that_load_strictly_into_mit_b0(tmp_path):
    out = tmp_path / 'mit_b0_synthetic.pth'
    proc = _pretrain(out)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'pixel accuracy' in proc.stdout
    state = torch.load(out, map_location='cpu')
    assert 'patch_embed1.proj.weight' in state and 'block1.0.attn.q.weight' in state
    backbone = BACKBONES.build(dict(type='mit_b0', style='pytorch', pretrained=str(out)))
    backbone.init_weights()  # the real loading path: strict, raises on any key difference
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, state[key]), key

    mtime = out.stat().st_mtime_ns
    again = _pretrain(out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert 'cached' in again.stdout
    assert out.stat().st_mtime_ns == mtime


def test_tiny_vit_pretraining_writes_timm_weights_that_load_strictly_into_timm_vit(tmp_path):
    out = tmp_path / 'vit_tiny_synthetic.pth'
    proc = _pretrain(out, '--backbone', 'vit_tiny')
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'pixel accuracy' in proc.stdout
    assert 'init_weights' not in proc.stdout + proc.stderr  # no mmcv init report
    state = torch.load(out, map_location='cpu')
    # timm's own layout: the ViT alone, no `vit.` prefix, no pyramid, no classifier
    assert 'patch_embed.proj.weight' in state and 'blocks.5.attn.qkv.weight' in state
    assert not any(k.startswith(('vit.', 'pyramid.', 'head')) for k in state)
    backbone = BACKBONES.build(dict(type='TimmViT', pretrained=str(out), **VIT_STANDIN))
    backbone.init_weights()  # TimmViT.load_pretrained: strict, raises on any key difference
    for key, value in backbone.vit.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_mit_b0_cache_key_is_unchanged_by_the_vit_option():
    """Cached MiT-B0 stand-ins (`<out>.json`) stay valid: same default path, same settings."""
    args = parse_args([])
    assert args.out == 'pretrained/mit_b0_synthetic.pth'
    assert settings_of(args) == dict(
        backbone='mit_b0', iters=400, batch_size=8, lr=0.001, num_train=400, num_val=40,
        crop=128, size=[128, 256], seed=0, style='standin_v1')


def test_vit_standin_goes_to_its_own_file_and_its_architecture_is_part_of_the_cache_key():
    args = parse_args(['--backbone', 'vit_tiny'])
    assert args.out == 'pretrained/vit_tiny_synthetic.pth'
    assert settings_of(args)['vit'] == VIT_STANDIN


def test_standin_look_is_neither_the_source_nor_the_target_palette():
    standin, source = standin_style(), synthetic.source_style()
    target = synthetic.target_style()
    car = synthetic.CAR
    assert standin.palette[car] != source.palette[car]
    assert standin.palette[car] != target.palette[car]
