"""EncoderDecoder and HRDAEncoderDecoder: training outputs, HRDA inputs and inference modes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mmseg.models.builder import HEADS, build_segmentor
from mmseg.models.segmentors.encoder_decoder import slide_windows
from mmseg.models.utils.crop_box import get_crop_bbox

from models_helpers import MIT_B5_CHANNELS, encoder_decoder, hrda, metas


@pytest.fixture
def hrda_model():
    model = build_segmentor(hrda())
    model.init_weights()
    return model


def test_hrda_mit_b5_parameter_and_state_dict_counts():
    model = build_segmentor(hrda('mit_b5', MIT_B5_CHANNELS, channels=256))
    assert sum(p.numel() for p in model.parameters()) == 85_685_990
    assert len(model.state_dict()) == 1126


def test_daformer_mit_b5_segmentor_parameter_count():
    model = build_segmentor(encoder_decoder('mit_b5', MIT_B5_CHANNELS, channels=256))
    assert sum(p.numel() for p in model.parameters()) == 85_155_283


def test_scales_are_sorted_and_head_gets_crop_and_slide_flags():
    model = build_segmentor(hrda())
    assert model.scales == [0.5, 1]
    assert model.decode_head.scales == [0.5, 1]
    assert model.decode_head.enable_hr_crop and model.decode_head.hr_slide_inference


def test_segmentor_pretrained_is_copied_to_backbone():
    cfg = encoder_decoder()
    cfg['pretrained'] = 'pretrained/mit_b0.pth'
    assert build_segmentor(cfg).backbone.pretrained == 'pretrained/mit_b0.pth'


def test_hr_crop_offsets_are_multiples_of_8_up_to_504_never_512():
    boxes = [get_crop_bbox(1024, 1024, (512, 512), divisible=8) for _ in range(3000)]
    offsets = {b[0] for b in boxes} | {b[2] for b in boxes}
    assert offsets == set(range(0, 505, 8))
    assert all(b[1] - b[0] == 512 and b[3] - b[2] == 512 for b in boxes)


def test_slide_windows_match_mic_grids():
    assert slide_windows(1024, 1024, (512, 512), (256, 256)) == [
        (y, y + 512, x, x + 512) for y in (0, 256, 512) for x in (0, 256, 512)]
    assert slide_windows(1024, 2048, (1024, 1024), (512, 512)) == [
        (0, 1024, x, x + 1024) for x in (0, 512, 1024)]
    assert slide_windows(1080, 1920, (1024, 1024), (512, 512)) == [
        (y, y + 1024, x, x + 1024) for y in (0, 56) for x in (0, 512, 896)]


def test_hrda_training_uses_half_res_image_and_one_hr_crop(hrda_model):
    model = hrda_model.eval()  # no dropout / batch statistics: features are comparable
    img = torch.randn(2, 3, 128, 128)
    label = torch.randint(0, 19, (2, 1, 128, 128))
    with torch.no_grad():
        out = model.forward_train(img, metas(2, 128), label, return_feat=True,
                                  return_decoder_feat=True)
        y1, y2, x1, x2 = box = out['decoder_feat']['hr_box']
        lr_img = F.interpolate(img, scale_factor=0.5, mode='bilinear', align_corners=False,
                               antialias=False)
        lr_maps = model.backbone(lr_img)
        hr_maps = model.backbone(img[:, :, y1:y2, x1:x2])
        head = model.decode_head.head
    assert (y2 - y1, x2 - x1) == (64, 64) and all(v % 8 == 0 for v in box)
    for got, expected in zip(out['features'], lr_maps):  # FD features = LR features
        torch.testing.assert_close(got, expected)
    feat = out['decoder_feat']
    torch.testing.assert_close(feat['lr'], head.forward_features(lr_maps))
    torch.testing.assert_close(feat['hr'], head.forward_features(hr_maps))
    torch.testing.assert_close(feat['lr_logits'], head(lr_maps))
    torch.testing.assert_close(feat['hr_logits'], head(hr_maps))
    assert (feat['lr_scale'], feat['os']) == (0.5, 4)
    assert {'decode.loss_seg', 'decode.acc_seg', 'decode.hr.loss_seg',
            'decode.hr.acc_seg'} <= set(out)


def test_gradients_reach_every_trainable_parameter(hrda_model):
    img = torch.randn(2, 3, 128, 128)
    label = torch.randint(0, 19, (2, 1, 128, 128))
    losses = hrda_model.forward_train(img, metas(2, 128), label)
    loss, log_vars = hrda_model._parse_losses(losses)
    loss.backward()
    no_grad = [n for n, p in hrda_model.named_parameters()
               if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert no_grad == []
    assert log_vars['loss'] == pytest.approx(log_vars['decode.loss_seg'] +
                                             log_vars['decode.hr.loss_seg'], rel=1e-5)


def test_encoder_decoder_decoder_feat_and_features():
    model = build_segmentor(encoder_decoder()).eval()
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        out = model.forward_train(img, metas(1, 64), torch.zeros(1, 1, 64, 64, dtype=torch.long),
                                  return_feat=True, return_logits=True,
                                  return_decoder_feat=True)
    assert len(out['features']) == 4 and out['decode.logits'].shape == (1, 19, 16, 16)
    feat = out['decoder_feat']
    assert feat['lr'].shape == (1, 32, 16, 16) and feat['hr'] is None
    assert (feat['hr_box'], feat['lr_scale'], feat['os']) == (None, 1.0, 4)


def test_slide_window_covering_the_image_equals_whole_inference():
    model = build_segmentor(encoder_decoder()).eval()
    img = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        whole = model.inference(img, metas(2, 64), rescale=True)
        model.test_cfg = type(model.test_cfg)(mode='slide', crop_size=(64, 64), stride=(32, 32))
        slide = model.inference(img, metas(2, 64), rescale=True)
    torch.testing.assert_close(slide, whole)


def test_hrda_batched_slide_equals_unbatched_slide(hrda_model):
    model = hrda_model.eval()
    img = torch.randn(2, 3, 96, 128)
    meta = [dict(m, ori_shape=(96, 128, 3)) for m in metas(2, 0)]
    with torch.no_grad():
        model.test_cfg = type(model.test_cfg)(mode='slide', crop_size=(64, 64), stride=(32, 32))
        unbatched = model.inference(img, meta, rescale=True)
        model.test_cfg.batched_slide = True
        batched = model.inference(img, meta, rescale=True)
    torch.testing.assert_close(batched, unbatched, atol=1e-5, rtol=1e-5)


def test_hrda_encode_decode_scales_returns_fused_raw_lr_and_hr(hrda_model):
    model = hrda_model.eval()
    img = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        scales = model.encode_decode_scales(img, metas(1, 128))
        fused = model.encode_decode(img, metas(1, 128))
        lr_maps = model.backbone(F.interpolate(img, scale_factor=0.5, mode='bilinear',
                                               align_corners=False))
        lr_raw = model.decode_head.head(lr_maps)
        lr_feat = model.decode_head.head.forward_features(lr_maps)
    torch.testing.assert_close(scales['fused'], fused)
    torch.testing.assert_close(scales['lr_feat'], lr_feat)
    torch.testing.assert_close(scales['lr'], F.interpolate(lr_raw, size=(128, 128),
                                                           mode='bilinear', align_corners=False))
    assert scales['hr'].shape == (1, 19, 128, 128)
    plain = build_segmentor(encoder_decoder()).eval()
    with torch.no_grad():
        out = plain.encode_decode_scales(img, metas(1, 128))
        plain_fused = plain.encode_decode(img, metas(1, 128))
    assert out['lr'] is None and out['hr'] is None
    torch.testing.assert_close(out['fused'], plain_fused)
    assert out['lr_feat'].shape[:2] == (1, plain.decode_head.channels)


def test_flipped_test_image_prediction_is_flipped_back():
    model = build_segmentor(encoder_decoder()).eval()
    img = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        probs = model.inference(img, metas(1, 64), rescale=True)
        flipped = model.inference(img.flip(3), metas(1, 64, flip=True), rescale=True)
        aug = model.forward([img, img.flip(3)], [metas(1, 64), metas(1, 64, flip=True)],
                            return_loss=False)
    torch.testing.assert_close(probs.sum(1), torch.ones(1, 64, 64))
    torch.testing.assert_close(flipped, F.softmax(model.encode_decode(img.flip(3), None), 1)
                               .flip(3))
    np.testing.assert_array_equal(aug[0], ((probs + flipped) / 2).argmax(1)[0].numpy())


def test_train_step_sums_only_loss_keys():
    model = build_segmentor(encoder_decoder())
    batch = dict(img=torch.randn(2, 3, 64, 64), img_metas=metas(2, 64),
                 gt_semantic_seg=torch.randint(0, 19, (2, 1, 64, 64)))
    out = model.train_step(batch, None)
    assert out['num_samples'] == 2
    assert out['log_vars']['loss'] == pytest.approx(out['log_vars']['decode.loss_seg'])
    assert out['loss'].item() == pytest.approx(out['log_vars']['decode.loss_seg'], rel=1e-6)
    assert 'decode.acc_seg' in out['log_vars']


def test_show_result_writes_paletted_train_id_png_at_opacity_1(tmp_path):
    model = build_segmentor(encoder_decoder(num_classes=3))
    seg = np.array([[0, 1], [2, 1]])
    palette = [[128, 64, 128], [244, 35, 232], [70, 70, 70]]
    out_file = str(tmp_path / 'city' / 'pred.png')
    model.show_result(np.zeros((2, 2, 3), np.uint8), [seg], palette=palette, out_file=out_file,
                      opacity=1)
    png = Image.open(out_file)
    assert png.mode == 'P'
    np.testing.assert_array_equal(np.array(png), seg)
    assert png.getpalette()[:9] == [128, 64, 128, 244, 35, 232, 70, 70, 70]


def test_show_result_blends_bgr_colours_below_opacity_1():
    model = build_segmentor(encoder_decoder(num_classes=2))
    img = np.full((1, 2, 3), 100, np.uint8)
    out = model.show_result(img, [np.array([[0, 1]])], palette=[[200, 0, 0], [0, 0, 50]],
                            opacity=0.5)
    np.testing.assert_array_equal(out, [[[50, 50, 150], [75, 50, 50]]])  # BGR


@HEADS.register_module(name='_TestProjectionHead', force=True)
class _TestProjectionHead(torch.nn.Conv2d):
    def __init__(self, in_channels, proj_dim):
        super().__init__(in_channels, proj_dim, 1)


def test_proj_head_is_built_stored_and_not_called():
    cfg = encoder_decoder()
    cfg['proj_head'] = dict(type='_TestProjectionHead', in_channels=32, proj_dim=8)
    model = build_segmentor(cfg)
    assert 'proj_head.weight' in model.state_dict()
    losses = model.forward_train(torch.randn(1, 3, 64, 64), metas(1, 64),
                                 torch.zeros(1, 1, 64, 64, dtype=torch.long))
    losses['decode.loss_seg'].backward()
    assert model.proj_head.weight.grad is None
