"""bf16 autocast of the UDA step (CPU autocast): close to fp32, with fp32 state and losses."""
import random

import numpy as np
import pytest
import torch

from uda_helpers import build_tiny_uda, random_batch

# bf16 keeps 8 mantissa bits (relative step 2^-8 = 0.4%); the per-pixel cross-entropy means of a
# randomly initialised network (~ln 19 = 2.94) agree to well within 2% after one step.
LOSS_RTOL = 2e-2
LOSS_ATOL = 1e-2


def _one_step(mixed_precision):
    random.seed(0)
    np.random.seed(0)
    model = build_tiny_uda(mixed_precision=mixed_precision)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(5)
    log_vars = model.forward_train(**random_batch())
    return model, {k: float(v) for k, v in log_vars.items()}


@pytest.fixture(scope='module')
def fp32_and_bf16():
    return _one_step(None), _one_step('bf16')


def test_bf16_and_fp32_training_losses_agree(fp32_and_bf16):
    (_, fp32), (_, bf16) = fp32_and_bf16
    loss_keys = [k for k in fp32 if 'loss' in k and k != 'loss']
    assert {'decode.loss_seg', 'src.loss_imnet_feat_dist', 'mix.decode.loss_seg',
            'masked.decode.loss_seg'} <= set(loss_keys)
    for key in loss_keys:
        assert np.isfinite(bf16[key]), key
        assert bf16[key] == pytest.approx(fp32[key], rel=LOSS_RTOL, abs=LOSS_ATOL), key


def test_bf16_step_keeps_weights_gradients_and_prototypes_in_fp32(fp32_and_bf16):
    _, (model, _) = fp32_and_bf16
    for name, param in model.named_parameters():
        assert param.dtype == torch.float32, name
        if param.grad is not None:
            assert param.grad.dtype == torch.float32, name
    assert model.proto_memory.prototypes.dtype == torch.float32


def test_every_network_pass_runs_in_bf16_under_autocast():
    """Student (source, mixed, masked), EMA teacher and ImageNet model all autocast."""
    model = build_tiny_uda(mixed_precision='bf16')
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen.setdefault(name, []).append(output.dtype)
        return hook

    model.get_model().backbone.patch_embed1.proj.register_forward_hook(record('student'))
    model.ema_model.backbone.patch_embed1.proj.register_forward_hook(record('teacher'))
    model.imnet_model.backbone.patch_embed1.proj.register_forward_hook(record('imnet'))
    model.get_model().proj_head.register_forward_hook(record('proj_head'))
    model.forward_train(**random_batch())
    assert seen['student'] == [torch.bfloat16] * 6  # 3 passes x (LR + HR crop)
    assert set(seen['teacher']) == {torch.bfloat16}
    assert seen['imnet'] == [torch.bfloat16]
    assert set(seen['proj_head']) == {torch.bfloat16}


def test_bf16_teacher_outputs_and_pseudo_weights_are_fp32():
    model = build_tiny_uda(mixed_precision='bf16')
    batch = random_batch()
    out = model.teacher_predict(batch['target_img'], batch['target_img_metas'])
    assert {v.dtype for v in vars(out).values() if v is not None} == {torch.float32}
    pseudo = model.make_pseudo_labels(out, None)
    assert pseudo.weight.dtype == torch.float32
    assert pseudo.confidence.dtype == torch.float32
