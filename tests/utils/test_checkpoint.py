"""Safe checkpoint reading and segmentor loading from plain and MIC UDA layouts."""
import collections

import pytest
import torch

from mmseg.models.builder import build_segmentor
from mmseg.utils.checkpoint import load_segmentor_checkpoint, safe_load
from mmseg.utils.errors import UserError

from models_helpers import encoder_decoder, hrda

MIC_META = dict(  # the value types of a MIC run's meta (mmcv's save_checkpoint + MIC's train.py)
    mmcv_version='1.3.7', time='Mon Jan  3 10:00:00 2022', iter=40000, epoch=1,
    CLASSES=('road', 'sidewalk'), PALETTE=[[128, 64, 128], [244, 35, 232]],
    mmseg_version='0.16.0+abcdef1', config='model = dict(type="HRDAEncoderDecoder")',
    env_info='sys.platform: linux', seed=2, exp_name='gtaHR2csHR_mic_hrda',
    hook_msgs=dict(last_ckpt='work_dirs/x/iter_40000.pth'))


class NotATensor:
    pass


def _model(seed):
    torch.manual_seed(seed)
    return build_segmentor(encoder_decoder(channels=16, fusion='conv1'))


def _assert_same_weights(model, reference):
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), name


def test_mic_uda_checkpoint_loads_student_or_teacher_under_weights_only(tmp_path):
    student, teacher, imnet = _model(1), _model(2), _model(3)
    state = collections.OrderedDict()
    for prefix, model in (('model.', student), ('ema_model.', teacher), ('imnet_model.', imnet)):
        state.update({prefix + k: v for k, v in model.state_dict().items()})
    path = str(tmp_path / 'iter_40000.pth')
    torch.save(dict(meta=MIC_META, state_dict=state,
                    optimizer=dict(state={}, param_groups=[dict(lr=6e-5, betas=(0.9, 0.999))])),
               path)
    target = _model(4)
    meta = load_segmentor_checkpoint(target, path)
    _assert_same_weights(target, student)
    assert meta == MIC_META
    load_segmentor_checkpoint(target, path, which='ema_model')
    _assert_same_weights(target, teacher)


def test_plain_state_dict_with_module_prefix_loads(tmp_path):
    source = _model(1)
    path = str(tmp_path / 'plain.pth')
    torch.save({'module.' + k: v for k, v in source.state_dict().items()}, path)
    target = _model(2)
    assert load_segmentor_checkpoint(target, path) == {}
    _assert_same_weights(target, source)


def test_checkpoint_of_another_architecture_is_refused_listing_keys(tmp_path):
    path = str(tmp_path / 'daformer.pth')
    torch.save(dict(state_dict=_model(1).state_dict()), path)
    hrda_model = build_segmentor(hrda(channels=16))
    with pytest.raises(UserError) as err:
        load_segmentor_checkpoint(hrda_model, path)
    message = str(err.value)
    assert 'checkpoint of another architecture' in message
    assert 'decode_head.head.embed_layers.0.proj.weight' in message


def test_teacher_requested_from_plain_checkpoint_is_refused(tmp_path):
    path = str(tmp_path / 'plain.pth')
    torch.save(_model(1).state_dict(), path)
    with pytest.raises(UserError, match='ema_model'):
        load_segmentor_checkpoint(_model(2), path, which='ema_model')


def test_pickled_object_is_refused_unless_unsafe(tmp_path):
    path = str(tmp_path / 'pickled.pth')
    torch.save(dict(meta=dict(obj=NotATensor()), state_dict={}), path)
    with pytest.raises(UserError, match='--unsafe-load'):
        safe_load(path)
    assert isinstance(safe_load(path, unsafe=True)['meta']['obj'], NotATensor)


def test_truncated_file_gives_clear_error(tmp_path):
    path = tmp_path / 'cut.pth'
    torch.save(dict(state_dict=dict(w=torch.zeros(1000))), str(path))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(UserError, match='truncated or not a PyTorch checkpoint'):
        safe_load(str(path))


def test_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / 'nope.pth')
    with pytest.raises(UserError, match='nope.pth'):
        safe_load(path)
