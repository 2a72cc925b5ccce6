"""CUDA-only checks for a session with a GPU (`pytest -m cuda`); skipped without CUDA."""
import random

import numpy as np
import pytest
import torch

from uda_helpers import build_tiny_uda, random_batch

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')]


def _cuda_step(mixed_precision):
    random.seed(0)
    np.random.seed(0)
    model = build_tiny_uda(mixed_precision=mixed_precision).cuda()
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(5)
    log_vars = model.forward_train(**random_batch(device='cuda'))
    return {k: float(v) for k, v in log_vars.items()}


def test_bf16_training_step_on_gpu_is_finite_and_close_to_fp32():
    fp32, bf16 = _cuda_step(None), _cuda_step('bf16')
    for key in (k for k in fp32 if 'loss' in k and k != 'loss'):
        assert np.isfinite(bf16[key]), key
        assert bf16[key] == pytest.approx(fp32[key], rel=2e-2, abs=1e-2), key


def test_fp16_training_step_on_gpu_uses_the_grad_scaler():
    model = build_tiny_uda(mixed_precision='fp16').cuda()
    optimizer = torch.optim.AdamW(model.get_model().parameters(), lr=1e-4)
    out = model.train_step(random_batch(device='cuda'), optimizer)
    assert model.grad_scaler.is_enabled()
    assert all(np.isfinite(v) or 'feat_dist' in k for k, v in out['log_vars'].items())


def test_batched_hrda_slide_inference_equals_unbatched_on_gpu():
    model = build_tiny_uda().get_model().cuda().eval()
    img = torch.randn(1, 3, 64, 128, device='cuda')
    meta = [dict(ori_shape=(64, 128, 3), img_shape=(64, 128, 3), pad_shape=(64, 128, 3),
                 flip=False)]
    with torch.no_grad():
        model.test_cfg.batched_slide = False
        unbatched = model.inference(img, meta, rescale=True)
        model.test_cfg.batched_slide = True
        batched = model.inference(img, meta, rescale=True)
    torch.testing.assert_close(batched, unbatched, atol=1e-4, rtol=1e-4)
