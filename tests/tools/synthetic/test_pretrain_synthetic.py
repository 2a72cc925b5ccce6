"""tools/synthetic/pretrain.py: a tiny run writes a SegFormer-format mit_b0 checkpoint that the
real `pretrained=` path loads strictly, and a rerun with the same settings is a no-op."""
import os
import subprocess
import sys
from pathlib import Path

import torch

from mmseg.models.builder import BACKBONES
from tools.synthetic.pretrain import standin_style
from tools.synthetic import generate as synthetic

REPO = Path(__file__).resolve().parents[3]
TINY = ['--iters', '2', '--batch-size', '1', '--num-train', '2', '--num-val', '1', '--crop',
        '64', '--size', '64', '128']


def _pretrain(out):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, str(REPO / 'tools' / 'synthetic' / 'pretrain.py'),
                           '--out', str(out), *TINY], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=300)


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


def test_standin_look_is_neither_the_source_nor_the_target_palette():
    standin, source = standin_style(), synthetic.source_style()
    target = synthetic.target_style()
    car = synthetic.CAR
    assert standin.palette[car] != source.palette[car]
    assert standin.palette[car] != target.palette[car]
