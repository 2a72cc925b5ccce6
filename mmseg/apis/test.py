"""Test loops: run a segmentor over a data loader, stream the metrics, write the predictions.

As MMSeg 0.x/MIC, with two changes that keep memory constant in the dataset size: each batch is
turned into per-image `dataset.pre_eval` statistics (or formatted files) right after inference,
and `efficient_test` (MIC's .npy spill) is only needed when raw predictions are kept.
"""
import os
import os.path as osp
import tempfile
from typing import List, Optional, Sequence

import mmcv
import numpy as np
import torch
import torch.distributed as dist
from mmcv.engine import collect_results_cpu, collect_results_gpu
from mmcv.image import tensor2imgs
from mmcv.parallel import DataContainer
from mmcv.runner import get_dist_info

from ..utils.device import unwrap_model

EFFICIENT_TEST_DIR = '.efficient_test'


def np2tmp(array: np.ndarray, temp_file_name: Optional[str] = None,
           tmpdir: Optional[str] = None) -> str:
    """Save `array` as a .npy file (a new temporary one by default) and return its path."""
    if temp_file_name is None:
        temp_file_name = tempfile.NamedTemporaryFile(suffix='.npy', delete=False,
                                                     dir=tmpdir).name
    np.save(temp_file_name, array)
    return temp_file_name


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The segmentor inside a module wrapper (the student of a UDA model)."""
    model = unwrap_model(model)
    return model.get_model() if hasattr(model, 'get_model') else model


def _outputs_attention(model: torch.nn.Module) -> bool:
    """True when the HRDA head returns its attention map (`--hrda-out ATT`, as MIC's test.py)."""
    head = getattr(_unwrap(model), 'decode_head', None)
    return bool(getattr(head, 'debug_output_attention', False))


def save_attention_png(attention: np.ndarray, out_file: str) -> None:
    """Write an attention map (H, W) in [0, 1] as an 8-bit grayscale PNG of attention x 255.

    MIC hands the float map x 255 to cv2, which rounds half to even and saturates; so does this.
    """
    gray = np.clip(np.rint(np.asarray(attention, dtype=np.float64) * 255), 0, 255)
    mmcv.imwrite(gray.astype(np.uint8), out_file)


def _batch_images(data: dict) -> tuple:
    """(denormalised BGR images, image metas) of the first test-time augmentation of a batch."""
    metas = data['img_metas'][0]
    if isinstance(metas, DataContainer):
        metas = metas.data[0]
    imgs = tensor2imgs(data['img'][0], **metas[0]['img_norm_cfg'])
    assert len(imgs) == len(metas)
    return imgs, metas


def show_batch(model: torch.nn.Module, data: dict, result: list, palette, show: bool = False,
               out_dir: Optional[str] = None, opacity: float = 0.5) -> None:
    """Show or save the predictions of one batch, one file per image at out_dir/<ori_filename>.

    The segmentor's `show_result` renders them: with opacity == 1 as paletted train-id PNGs
    (what `test.sh` writes), else blended over the image. In ATT mode the attention map x 255 is
    written as grayscale instead.
    """
    imgs, metas = _batch_images(data)
    attention = _outputs_attention(model)
    for img, meta, seg in zip(imgs, metas, result):
        out_file = osp.join(out_dir, meta['ori_filename']) if out_dir else None
        if attention and out_file:
            save_attention_png(seg, out_file)
        else:
            h, w, _ = meta['img_shape']
            ori_h, ori_w = meta['ori_shape'][:2]
            img_show = mmcv.imresize(img[:h, :w, :], (ori_w, ori_h))
            _unwrap(model).show_result(img_show, [seg], palette=palette, show=show,
                                       out_file=out_file, opacity=opacity)


def _check_modes(efficient_test: bool, pre_eval: bool, format_only: bool) -> None:
    if [efficient_test, pre_eval, format_only].count(True) > 1:
        raise ValueError('efficient_test, pre_eval and format_only are mutually exclusive: '
                         'each decides what a test loop returns per image.')


def _per_image_outputs(dataset, result: list, batch_indices: List[int], efficient_test: bool,
                       pre_eval: bool, format_only: bool, format_args: dict,
                       keep_results: bool = True) -> list:
    """What the loop keeps per image: pre_eval stats, formatted file names, .npy paths or maps."""
    if not keep_results:
        return []
    if efficient_test:
        return [np2tmp(seg, tmpdir=EFFICIENT_TEST_DIR) for seg in result]
    if format_only:
        return dataset.format_results(result, indices=batch_indices, **format_args)
    if pre_eval:
        return dataset.pre_eval(result, indices=batch_indices)
    return list(result)


def single_gpu_test(model: torch.nn.Module, data_loader, show: bool = False,
                    out_dir: Optional[str] = None, efficient_test: bool = False,
                    opacity: float = 0.5, pre_eval: bool = True, format_only: bool = False,
                    format_args: dict = {}, keep_results: bool = True) -> list:
    """Run `model` over every image of `data_loader` in order, on the model's device.

    Returns one entry per image: `dataset.pre_eval` tuples (default), the formatted file names
    (`format_only`), .npy paths (`efficient_test`, files in `.efficient_test/`) or (H, W) train-id
    maps (all three False, MIC's form); nothing with `keep_results=False` (runs that only
    show/save predictions, e.g. of a test split without labels). `show`/`out_dir` display or
    save each prediction. `format_only` needs a dataset whose `format_results` takes
    `indices=` (the batch's dataset indices, MMSeg >= 0.20); tools/test.py instead formats all
    raw maps at the end, as MIC.
    """
    _check_modes(efficient_test, pre_eval, format_only)
    model.eval()
    dataset = data_loader.dataset
    if efficient_test:
        mmcv.mkdir_or_exist(EFFICIENT_TEST_DIR)
    results = []
    prog_bar = mmcv.ProgressBar(len(dataset))
    for batch_indices, data in zip(data_loader.batch_sampler, data_loader):
        with torch.no_grad():
            result = model(return_loss=False, **data)
        if show or out_dir:
            show_batch(model, data, result, dataset.PALETTE, show, out_dir, opacity)
        results.extend(_per_image_outputs(dataset, result, batch_indices, efficient_test,
                                          pre_eval, format_only, format_args, keep_results))
        for _ in range(len(result)):
            prog_bar.update()
    return results


def _fresh_collect_dir(parent: Optional[str]) -> str:
    """A new, empty folder that every rank agrees on, for the per-rank result files.

    mmcv removes the collect folder afterwards, so it is always a fresh sub-folder: a user's
    `--tmpdir` (which may hold checkpoints) is never deleted. The name is broadcast as an object,
    which works with gloo on CPU as well as nccl (mmcv's own fallback needs CUDA).
    """
    rank, _ = get_dist_info()
    name = [None]
    if rank == 0:
        parent = parent or '.dist_test'
        mmcv.mkdir_or_exist(parent)
        name[0] = tempfile.mkdtemp(dir=parent)
    dist.broadcast_object_list(name, src=0)
    return name[0]


def multi_gpu_test(model: torch.nn.Module, data_loader, tmpdir: Optional[str] = None,
                   gpu_collect: bool = False, efficient_test: bool = False,
                   pre_eval: bool = True, format_only: bool = False,
                   format_args: dict = {}) -> Optional[list]:
    """Distributed `single_gpu_test`: every rank runs its shard; rank 0 gets all results.

    Results are gathered with mmcv's `collect_results_gpu` (`gpu_collect` on CUDA) or
    `collect_results_cpu` (through files in a fresh folder under `tmpdir`); other ranks get None.
    """
    _check_modes(efficient_test, pre_eval, format_only)
    model.eval()
    dataset = data_loader.dataset
    rank, world_size = get_dist_info()
    if efficient_test:
        mmcv.mkdir_or_exist(EFFICIENT_TEST_DIR)
    results = []
    prog_bar = mmcv.ProgressBar(len(dataset)) if rank == 0 else None
    for batch_indices, data in zip(data_loader.batch_sampler, data_loader):
        with torch.no_grad():
            result = model(return_loss=False, **data)
        results.extend(_per_image_outputs(dataset, result, batch_indices, efficient_test,
                                          pre_eval, format_only, format_args))
        if prog_bar is not None:
            done = min(len(result) * world_size, len(dataset) - prog_bar.completed)
            for _ in range(done):
                prog_bar.update()
    if gpu_collect and torch.cuda.is_available() and dist.get_backend() == 'nccl':
        return collect_results_gpu(results, len(dataset))
    return collect_results_cpu(results, len(dataset), _fresh_collect_dir(tmpdir))


def remove_efficient_test_files(paths: Sequence[str]) -> None:
    """Delete the .npy files an `efficient_test` run wrote (and their folder once empty)."""
    for path in paths:
        if isinstance(path, str) and path.endswith('.npy') and osp.isfile(path):
            os.remove(path)
    if osp.isdir(EFFICIENT_TEST_DIR) and not os.listdir(EFFICIENT_TEST_DIR):
        os.rmdir(EFFICIENT_TEST_DIR)
