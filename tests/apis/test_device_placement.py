"""One path for CPU and CUDA: the device is a value (model placement, batches, RNG, seeds).

CUDA behaviour that a CPU can still show is checked with torch.cuda's functions replaced by
recording fakes.
"""
import logging

import pytest
import torch
from mmcv.parallel import DataContainer, collate
from mmcv.runner.checkpoint import get_state_dict
from torch import nn
from torch.utils.data._utils.pin_memory import pin_memory

from mmseg.apis.train import place_model
from mmseg.core.runner import rng
from mmseg.utils.collate import collate as pinnable_collate
from mmseg.utils.device import ModelOnDevice, select_device, to_device, unwrap_model
from mmseg.utils.errors import UserError
from tools.train import set_randomness


class Recorder(nn.Module):
    """Returns what it was called with."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)
        self.register_buffer('count', torch.zeros((), dtype=torch.long))

    def forward(self, *args, **kwargs):
        return args, kwargs

    def train_step(self, data_batch, optimizer, **kwargs):
        return data_batch


def loader_batch():
    """A batch as the training loader delivers it: DataContainers of one chunk."""
    samples = [dict(img=DataContainer(torch.rand(3, 4, 4), stack=True),
                    img_metas=DataContainer(dict(ori_shape=(4, 4, 3)), cpu_only=True),
                    gt_semantic_seg=DataContainer(torch.zeros(1, 4, 4, dtype=torch.long),
                                                  stack=True))
               for _ in range(2)]
    return collate(samples, samples_per_gpu=2)


def test_to_device_unwraps_data_containers_and_keeps_metas_on_the_host():
    batch = to_device(loader_batch(), torch.device('cpu'))
    assert batch['img'].shape == (2, 3, 4, 4) and batch['gt_semantic_seg'].shape == (2, 1, 4, 4)
    assert batch['img_metas'] == [dict(ori_shape=(4, 4, 3))] * 2


def test_to_device_walks_test_time_lists_of_tensors_and_metas():
    samples = [dict(img=[torch.rand(3, 4, 4)],
                    img_metas=[DataContainer(dict(flip=False), cpu_only=True)])]
    batch = to_device(collate(samples, samples_per_gpu=1), torch.device('cpu'))
    assert batch['img'][0].shape == (1, 3, 4, 4)
    assert batch['img_metas'] == [[dict(flip=False)]]


def test_to_device_refuses_a_batch_split_for_several_gpus():
    samples = [dict(img=DataContainer(torch.rand(3, 4, 4), stack=True)) for _ in range(2)]
    with pytest.raises(ValueError, match='2 chunks'):
        to_device(collate(samples, samples_per_gpu=1), torch.device('cpu'))


def test_model_on_device_moves_every_call_and_keeps_the_checkpoint_keys():
    wrapped = ModelOnDevice(Recorder(), torch.device('cpu'))
    args, kwargs = wrapped(loader_batch()['img'], return_loss=False)
    assert isinstance(args[0], torch.Tensor) and kwargs == dict(return_loss=False)
    assert isinstance(wrapped.train_step(loader_batch(), None)['img'], torch.Tensor)
    assert unwrap_model(wrapped) is wrapped.module
    assert sorted(get_state_dict(wrapped)) == ['conv.bias', 'conv.weight', 'count']


def test_training_weights_are_broadcast_after_the_move_to_the_device(monkeypatch):
    """NCCL broadcasts only GPU tensors: the broadcast must see the model on its device
    ('meta' stands in for a GPU here)."""
    seen = []
    monkeypatch.setattr('mmseg.apis.train.broadcast_module_state',
                        lambda module: seen.append({p.device.type for p in module.parameters()}))
    place_model(Recorder(), torch.device('meta'))
    assert seen == [{'meta'}]


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch.cuda with `n` visible GPUs whose calls are recorded (no GPU needed)."""
    calls = []

    def install(n):
        monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
        monkeypatch.setattr(torch.cuda, 'is_initialized', lambda: True)
        monkeypatch.setattr(torch.cuda, 'device_count', lambda: n)
        monkeypatch.setattr(torch.cuda, 'current_device', lambda: 0)
        monkeypatch.setattr(torch.cuda, 'set_device', lambda i: calls.append(('set_device', i)))

        def set_rng_state(state, device='cuda'):
            index = device if isinstance(device, int) else (torch.device(device).index or 0)
            if index >= n:
                raise RuntimeError(f'invalid device {index}')
            calls.append(('set_rng_state', index, int(state[0])))

        monkeypatch.setattr(torch.cuda, 'set_rng_state', set_rng_state)
        monkeypatch.setattr(torch.cuda.random, 'set_rng_state', set_rng_state)
        monkeypatch.setattr(torch.cuda, 'get_rng_state',
                            lambda device='cuda': torch.tensor([7], dtype=torch.uint8))
        monkeypatch.setattr(torch.cuda, 'manual_seed',
                            lambda seed: calls.append(('manual_seed', seed)))
        return calls

    return install


def test_gpu_ids_select_the_training_gpu(fake_cuda):
    calls = fake_cuda(2)
    assert select_device([1]) == torch.device('cuda', 1)
    assert calls == [('set_device', 1)]


def test_distributed_processes_take_the_gpu_of_their_local_rank(fake_cuda, monkeypatch):
    fake_cuda(4)
    monkeypatch.setenv('LOCAL_RANK', '3')
    assert select_device([0], distributed=True) == torch.device('cuda', 3)


@pytest.mark.parametrize('gpu_ids, message', [([2], 'GPU 2 was asked for, but 2 GPU'),
                                              ([0, 1], 'one process trains on one GPU')])
def test_impossible_gpu_ids_are_one_clear_error(fake_cuda, gpu_ids, message):
    fake_cuda(2)
    with pytest.raises(UserError, match=message):
        select_device(gpu_ids)


def test_without_a_gpu_the_device_is_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert select_device([1]) == torch.device('cpu')


def test_rng_state_holds_this_process_gpu_only(fake_cuda):
    fake_cuda(8)
    state = rng.get_rng_state()
    assert torch.equal(state['cuda'], torch.tensor([7], dtype=torch.uint8))


def test_checkpoint_with_one_cuda_state_per_gpu_resumes_where_fewer_are_visible(fake_cuda):
    """Older checkpoints saved every visible GPU's state; restoring all of them on a machine
    with fewer GPUs crashed."""
    calls = fake_cuda(1)
    state = rng.get_rng_state()
    state['cuda'] = [torch.tensor([i], dtype=torch.uint8) for i in range(8)]
    rng.set_rng_state(state)
    assert calls == [('set_rng_state', 0, 0)]


def test_cpu_checkpoint_resumed_on_a_gpu_seeds_cuda_from_its_cpu_state(fake_cuda):
    calls = fake_cuda(1)
    torch.manual_seed(3)
    state = rng.get_rng_state()
    del state['cuda']  # written by a CPU run
    assert rng.resume_rng_state(state) and rng.resume_rng_state(state)
    assert calls[0] == calls[1] and calls[0][0] == 'manual_seed'
    torch.manual_seed(4)
    assert rng.resume_rng_state(rng.get_rng_state() | {'cuda': None})
    assert calls[2] != calls[0]


@pytest.fixture
def restore_determinism():
    yield
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False
    torch.backends.cudnn.benchmark = False


def test_deterministic_flag_works_without_a_seed(restore_determinism):
    torch.backends.cudnn.benchmark = True  # the configs' cudnn_benchmark
    set_randomness(None, True, logging.getLogger('test'))
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark


def test_loader_batches_can_be_pinned(monkeypatch):
    """torch's pin-memory thread pins only tensors, containers and objects with pin_memory():
    mmcv's DataContainer batches were never pinned."""
    pinned = []

    def fake_pin(tensor, device=None):
        pinned.append(tuple(tensor.shape))
        return tensor

    monkeypatch.setattr(torch.Tensor, 'pin_memory', fake_pin)
    samples = [dict(img=DataContainer(torch.rand(3, 4, 4), stack=True),
                    img_metas=DataContainer(dict(ori_shape=(4, 4, 3)), cpu_only=True))
               for _ in range(2)]
    batch = pin_memory(pinnable_collate(samples, samples_per_gpu=2))
    assert pinned == [(2, 3, 4, 4)]
    assert batch['img'].data[0].shape == (2, 3, 4, 4)
    assert batch['img_metas'].data == [[dict(ori_shape=(4, 4, 3))] * 2]
