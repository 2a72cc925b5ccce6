import random

import numpy as np
import pytest
import torch

from mmseg.models.uda import teacher_module
from mmseg.models.uda.masking_consistency_module import MaskingConsistencyModule
from mmseg.models.utils.dacs_transforms import gaussian_blur
from mmseg.utils.errors import UserError

H = W = 16
METAS = [dict(img_norm_cfg=dict(mean=[0.0] * 3, std=[255.0] * 3))] * 2


class RecordingModel:
    """Stands in for a segmentor: records the forward_train inputs, returns fixed losses."""

    def forward_train(self, img, img_metas, gt_semantic_seg, seg_weight=None):
        self.inputs = dict(img=img, img_metas=img_metas, gt=gt_semantic_seg, weight=seg_weight)
        return {'decode.loss_seg': torch.tensor(2.0), 'decode.acc_seg': torch.tensor(50.0),
                'decode.hr.loss_seg': torch.tensor(3.0)}


def _cfg(**kw):
    cfg = dict(color_jitter_strength=0.2, color_jitter_probability=0.2, mask_mode='separatetrg',
               mask_alpha='same', mask_pseudo_threshold='same', mask_lambda=1,
               mask_generator=dict(type='block', mask_ratio=-1.0, mask_block_size=4))
    cfg.update(kw)
    return cfg


def _batch(b=2):
    """Source image i is filled with 0.125 + i / 4, target image i with 0.5 + i / 4."""
    step = torch.arange(b).float().view(b, 1, 1, 1).expand(b, 3, H, W) / 4
    img, target = step + 0.125, step + 0.5
    gt = torch.full((b, 1, H, W), 3)
    pseudo_label = torch.full((b, H, W), 5)
    pseudo_weight = torch.full((b, H, W), 0.4)
    return dict(img=img, img_metas=METAS[:b], gt_semantic_seg=gt, target_img=target,
                target_img_metas=METAS[:b], valid_pseudo_mask=None, pseudo_label=pseudo_label,
                pseudo_weight=pseudo_weight)


def _run(cfg, batch=None):
    mic, model = MaskingConsistencyModule(**cfg), RecordingModel()
    losses = mic(model, **(batch or _batch()))
    return mic, model.inputs, losses


def test_separatetrg_trains_on_target_with_pseudo_labels():
    batch = _batch()
    _, rec, _ = _run(_cfg(mask_mode='separatetrg'), batch)
    assert torch.equal(rec['img'], batch['target_img'])
    assert torch.equal(rec['gt'], batch['pseudo_label'].unsqueeze(1))
    assert torch.equal(rec['weight'], batch['pseudo_weight'])
    assert rec['img_metas'] is batch['img_metas']


def test_separatesrc_trains_on_source_with_gt_and_no_weight():
    batch = _batch()
    _, rec, _ = _run(_cfg(mask_mode='separatesrc'), batch)
    assert torch.equal(rec['img'], batch['img'])
    assert torch.equal(rec['gt'], batch['gt_semantic_seg'])
    assert rec['weight'] is None


def test_separate_uses_first_source_and_first_target():
    batch = _batch()
    _, rec, _ = _run(_cfg(mask_mode='separate'), batch)
    assert torch.equal(rec['img'], torch.stack([batch['img'][0], batch['target_img'][0]]))
    assert rec['gt'].shape == (2, 1, H, W)
    assert rec['gt'][0].unique().tolist() == [3] and rec['gt'][1].unique().tolist() == [5]
    assert rec['weight'][0].unique().tolist() == [1.0]
    assert torch.allclose(rec['weight'][1], torch.full((H, W), 0.4))


def test_separate_needs_a_batch_of_two():
    with pytest.raises(UserError, match='samples_per_gpu=2'):
        _run(_cfg(mask_mode='separate'), _batch(3))


def test_masking_drops_blocks_to_zero():
    _, rec, _ = _run(_cfg(mask_generator=dict(type='block', mask_ratio=0.7, mask_block_size=4)))
    values = set(rec['img'][1].unique().tolist())
    assert values == {0.0, 0.75}


def _seed_python_random(jitter, blur):
    """A Python `random` seed whose first two uniforms satisfy the two predicates."""
    for seed in range(1000):
        random.seed(seed)
        cj, bl = random.uniform(0, 1), random.uniform(0, 1)
        if jitter(cj) and blur(bl):
            random.seed(seed)
            return bl
    raise AssertionError('no seed found')


def test_aug_mode_jitters_before_masking():
    _seed_python_random(lambda cj: cj > 0.2, lambda bl: bl <= 0.5)
    cfg = _cfg(mask_mode='separatetrgaug',
               mask_generator=dict(type='block', mask_ratio=0.7, mask_block_size=4))
    _, rec, _ = _run(cfg)
    values = set(rec['img'][1].unique().tolist())
    assert 0.0 in values, 'dropped blocks stay exactly 0: masking comes after the jitter'
    assert values - {0.0} and 0.75 not in values, 'kept blocks are jittered'


def test_aug_mode_blurs_even_without_uda_blur():
    """MIC's masked augmentation ignores `uda.blur`: the module does not even take it."""
    blur_draw = _seed_python_random(lambda cj: cj <= 0.2, lambda bl: bl > 0.5)
    batch = _batch()
    torch.manual_seed(0)
    batch['target_img'] = torch.rand(2, 3, 64, 64)
    batch['pseudo_label'] = torch.zeros(2, 64, 64, dtype=torch.long)
    batch['pseudo_weight'] = torch.ones(2, 64, 64)
    np.random.seed(4)
    _, rec, _ = _run(_cfg(mask_mode='separatetrgaug'), batch)
    np.random.seed(4)
    assert torch.allclose(rec['img'], gaussian_blur(blur_draw, batch['target_img']))
    assert not torch.allclose(rec['img'], batch['target_img'])


def test_non_aug_mode_draws_no_python_random():
    random.seed(0)
    _run(_cfg(mask_mode='separatetrg'))
    assert random.random() == random.Random(0).random()


def test_mask_lambda_scales_only_decode_loss_seg():
    _, _, losses = _run(_cfg(mask_lambda=0.5))
    assert losses['decode.loss_seg'].item() == 1.0
    assert losses['decode.hr.loss_seg'].item() == 3.0
    assert losses['decode.acc_seg'].item() == 50.0


def test_masked_image_kept_for_debug():
    mic, rec, _ = _run(_cfg())
    assert mic.debug_output['masked_img'] is rec['img']


def test_unknown_mode_and_missing_generator_are_user_errors():
    with pytest.raises(UserError, match='mask_mode'):
        MaskingConsistencyModule(**_cfg(mask_mode='joint'))
    with pytest.raises(UserError, match='mask_generator'):
        MaskingConsistencyModule(**_cfg(mask_generator=None))


def test_no_separate_teacher_when_params_are_same():
    assert MaskingConsistencyModule(**_cfg()).teacher is None


@pytest.mark.parametrize('mask_alpha, mask_threshold, expected', [
    (0.9, 'same', (0.9, 0.968)), ('same', 0.5, (0.999, 0.5)), ('same', None, (0.999, None))])
def test_separate_teacher_takes_the_mask_params_unless_same(monkeypatch, mask_alpha,
                                                            mask_threshold, expected):
    monkeypatch.setattr(teacher_module, 'build_segmentor', lambda cfg: torch.nn.Identity())
    mic = MaskingConsistencyModule(**_cfg(
        mask_alpha=mask_alpha, mask_pseudo_threshold=mask_threshold, model=dict(type='Fake'),
        alpha=0.999, pseudo_threshold=0.968))
    assert (mic.teacher.alpha, mic.teacher.pseudo_threshold) == expected


def test_separate_teacher_supplies_pseudo_labels(monkeypatch):
    class OnesTeacherModel(torch.nn.Module):
        def generate_pseudo_label(self, img, img_metas):
            logits = torch.zeros(img.shape[0], 8, *img.shape[2:])
            logits[:, 7] = 10.0
            return logits

    monkeypatch.setattr(teacher_module, 'build_segmentor', lambda cfg: OnesTeacherModel())
    cfg = _cfg(mask_pseudo_threshold=None, model=dict(type='Fake'), alpha=0.999,
               pseudo_threshold=0.968, pseudo_weight_ignore_top=0,
               pseudo_weight_ignore_bottom=0)
    mic, model = MaskingConsistencyModule(**cfg), RecordingModel()
    batch = _batch()
    batch.update(pseudo_label=None, pseudo_weight=None)
    mic(model, **batch)
    assert mic.teacher is not None
    assert model.inputs['gt'].unique().tolist() == [7]
    assert torch.equal(model.inputs['weight'], torch.ones(2, H, W))
