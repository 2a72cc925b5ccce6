"""tools/benchmark.py --small prints one valid JSON line (train, test and optimizer mode)."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from tools.benchmark import flop_counter

from tools_helpers import REPO

CONFIG = 'configs/pcpr/gtaHR2csHR_pcpr.py'
KEYS = {'device', 'dtype', 'mixed_precision', 's_per_iter', 's_per_iter_min', 's_per_iter_max',
        'images_per_s', 'peak_memory_mb', 'flops_per_iter'}


VIT_CONFIG = 'configs/vfm/gtaHR2csHR_mic_hrda_dinov2_vitl.py'
# The ViT-L config's DINOv2 shrunk to 4 blocks of 64 channels (a test cannot hold ViT-L).
TINY_VIT_OPTIONS = ['model.backbone.model_kwargs.embed_dim=64',
                    'model.backbone.model_kwargs.depth=4',
                    'model.backbone.model_kwargs.num_heads=2',
                    'model.backbone.model_kwargs.img_size=56',
                    'model.backbone.out_indices=[0,1,2,3]',
                    'model.backbone.pyramid.out_channels=64',
                    'model.decode_head.in_channels=[64,64,64,64]']


def run_tool(*args, config=CONFIG):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, 'tools/benchmark.py', config, *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600)


def run_benchmark(*args, config=CONFIG):
    proc = run_tool('--small', '--iters', '1', '--warmup', '0', *args, config=config)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


@pytest.mark.slow
def test_train_mode_prints_one_json_line():
    result = run_benchmark('--mode', 'train', '--cfg-options', 'uda.pseudo_threshold=0.0')
    assert KEYS <= result.keys()
    assert result['mode'] == 'train' and result['device'] == 'cpu'
    assert result['crop_size'] == [128, 128] and result['images_per_iter'] == 4
    assert result['dtype'] == 'fp32' and result['s_per_iter'] > 0
    # training = 3 x student forward + the gradient-free teacher and ImageNet passes
    assert result['flops_per_iter'] == (3 * result['flops_forward_student']
                                        + result['flops_forward_no_grad'])


@pytest.mark.slow
def test_test_mode_prints_one_json_line_for_bf16():
    result = run_benchmark('--mode', 'test', '--cfg-options', 'mixed_precision=bf16')
    assert KEYS <= result.keys()
    assert result['mode'] == 'test' and result['test_size'] == [128, 256]
    assert result['dtype'] == 'bf16' and result['flops_per_iter'] > 0


def test_optimizer_mode_times_the_step_over_all_param_groups():
    grouped = run_benchmark('--mode', 'optimizer')
    single = run_benchmark('--mode', 'optimizer',
                           '--cfg-options', 'optimizer.foreach=False')
    # student, EMA teacher and ImageNet model each give mmcv one group per parameter
    assert grouped['param_groups'] == single['param_groups'] > 600
    assert grouped['foreach_optimizer'] is None and single['foreach_optimizer'] is False
    assert grouped['s_per_iter'] > 0 and grouped['flops_per_iter'] is None


def test_small_on_a_vit_config_asks_for_keep_encoder():
    """--small's MiT-B0 swap cannot take a TimmViT config's arguments."""
    proc = run_tool('--small', '--flops-only', config=VIT_CONFIG)
    assert proc.returncode != 0
    assert 'backbone is TimmViT; add --keep-encoder' in proc.stderr


def test_keep_encoder_keeps_the_vit_and_counts_its_parameters_by_part():
    result = run_benchmark('--keep-encoder', '--flops-only', '--cfg-options',
                           *TINY_VIT_OPTIONS, config=VIT_CONFIG)
    assert result['small'] and result['keep_encoder'] and result['crop_size'] == [128, 128]
    # 4 blocks of 64 channels: ~50k parameters each; the ViT-Adapter is the pyramid
    assert 150_000 < result['params_encoder'] < 400_000 and result['params_pyramid'] > 0
    assert result['params_total'] == (result['params_encoder'] + result['params_pyramid']
                                      + result['params_head'])
    assert result['params_trainable'] == result['params_total']
    assert result['flops_per_iter'] == (3 * result['flops_forward_student']
                                        + result['flops_forward_no_grad'])


def test_attention_flops_are_counted_on_the_cpu():
    """torch's counter knows only the CUDA attention kernels; the CPU one is added:
    QK^T and AV, 2 x 2 * B * heads * N^2 * d = 4 * 2 * 4 * 100^2 * 32."""
    query = torch.randn(2, 4, 100, 32)
    with flop_counter() as counter:
        F.scaled_dot_product_attention(query, query, query)
    assert counter.get_total_flops() == 4 * 2 * 4 * 100**2 * 32
