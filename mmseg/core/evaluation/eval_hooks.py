"""Evaluation during training: mmcv's eval hooks running this package's test loops.

The runner's model is the UDA wrapper; its test API delegates to the student, so the student is
what is evaluated (as MIC). With mmcv >= 1.3.8 these hooks must be registered with priority
'LOW' (after the iteration timer), otherwise the logger fails with KeyError 'data_time'.
Metrics (`mIoU`, `mAcc`, `aAcc`, `IoU.<class>`, ...) go to `runner.log_buffer`. With
`metric='cityscapes'` (the official script, Cityscapes datasets) the predictions are kept as maps
(set `efficient_test=True` to keep them on disk instead of in memory) and its four average scores
(`averageScoreClasses`, ...) are logged; its tables stay out of the log.
"""
import numbers
import os.path as osp

import torch
import torch.distributed as dist
from mmcv.runner import DistEvalHook as _DistEvalHook
from mmcv.runner import EvalHook as _EvalHook
from torch.nn.modules.batchnorm import _BatchNorm

from .metrics import ALLOWED_METRICS, check_metrics


class _SegEvalMixin:
    """What both hooks share: the result mode and logging the metrics of one evaluation."""

    def _set_result_mode(self, efficient_test: bool, pre_eval: bool) -> None:
        """Check the metric names now (not after the first interval) and pick the result form:
        per-class areas (`pre_eval`), maps in memory, or .npy files (`efficient_test`)."""
        dataset = self.dataloader.dataset
        metrics = check_metrics(self.eval_kwargs.get('metric', 'mIoU'),
                                getattr(dataset, 'METRICS', ALLOWED_METRICS))
        needs_maps = 'cityscapes' in metrics
        self.efficient_test = efficient_test
        self.pre_eval = pre_eval and not efficient_test and not needs_maps

    def evaluate(self, runner, results):
        """Evaluate and log the scalar results; returns the `save_best` key's score or None.

        Only numbers go to the log: the official Cityscapes evaluation also returns its confusion
        matrix and per-class tables, which the loggers cannot write.
        """
        eval_res = self.dataloader.dataset.evaluate(results, logger=runner.logger,
                                                    **self.eval_kwargs)
        scalars = {k: v for k, v in eval_res.items() if isinstance(v, numbers.Real)}
        runner.log_buffer.output.update(scalars)
        runner.log_buffer.ready = True
        if self.save_best is None or not scalars:
            return None
        if self.key_indicator == 'auto':
            self._init_rule(self.rule, next(iter(scalars)))
        return scalars[self.key_indicator]

    def _log_results(self, runner, results: list) -> None:
        from ...apis.test import remove_efficient_test_files
        runner.log_buffer.output['eval_iter_num'] = len(self.dataloader)
        key_score = self.evaluate(runner, results)
        if self.efficient_test:
            remove_efficient_test_files(results)
        if self.save_best and key_score:
            self._save_ckpt(runner, key_score)


class EvalHook(_SegEvalMixin, _EvalHook):
    """Evaluate every `interval` iterations on one process.

    Args:
        by_epoch (bool): False for the IterBasedRunner of MIC's configs.
        efficient_test (bool): keep the predictions as .npy files instead of in memory (MIC's
            option; it disables `pre_eval`).
        pre_eval (bool): turn each prediction into per-class areas at once (constant memory).
        **kwargs: mmcv EvalHook arguments (`interval`, `save_best`, ...) and `dataset.evaluate`
            arguments (`metric='mIoU'`).
    """

    def __init__(self, *args, by_epoch: bool = False, efficient_test: bool = False,
                 pre_eval: bool = True, **kwargs):
        super().__init__(*args, by_epoch=by_epoch, **kwargs)
        self._set_result_mode(efficient_test, pre_eval)

    def _do_evaluate(self, runner):
        # Imported here: mmseg.apis imports the training code, which imports these hooks.
        from ...apis.test import single_gpu_test
        results = single_gpu_test(runner.model, self.dataloader, show=False,
                                  efficient_test=self.efficient_test, pre_eval=self.pre_eval)
        runner.log_buffer.clear()
        self._log_results(runner, results)


class DistEvalHook(_SegEvalMixin, _DistEvalHook):
    """Evaluate every `interval` iterations with all processes; rank 0 evaluates and logs.

    Args: as `EvalHook`, plus mmcv's `tmpdir` (default `work_dir/.eval_hook`), `gpu_collect`
    and `broadcast_bn_buffer`.
    """

    def __init__(self, *args, by_epoch: bool = False, efficient_test: bool = False,
                 pre_eval: bool = True, **kwargs):
        super().__init__(*args, by_epoch=by_epoch, **kwargs)
        self._set_result_mode(efficient_test, pre_eval)

    def _do_evaluate(self, runner):
        from ...apis.test import multi_gpu_test
        if self.broadcast_bn_buffer:
            _broadcast_bn_buffers(runner.model)
        tmpdir = self.tmpdir or osp.join(runner.work_dir, '.eval_hook')
        results = multi_gpu_test(runner.model, self.dataloader, tmpdir=tmpdir,
                                 gpu_collect=self.gpu_collect,
                                 efficient_test=self.efficient_test, pre_eval=self.pre_eval)
        runner.log_buffer.clear()
        if runner.rank == 0:
            print('\n')
            self._log_results(runner, results)


def _broadcast_bn_buffers(model: torch.nn.Module) -> None:
    """Give every rank rank 0's BN statistics, which DDP does not synchronise."""
    for module in model.modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            dist.broadcast(module.running_var, 0)
            dist.broadcast(module.running_mean, 0)
