"""mmcv's CheckpointHook with atomic files, directory-based pruning and RNG states of all ranks.

Config: the usual `checkpoint_config = dict(by_epoch=False, interval=..., max_keep_ckpts=...)`;
`SafeIterBasedRunner` uses this hook for it (type omitted or 'CheckpointHook'). With
`sync_buffer=True` the processes' buffers are made equal first (`sync_buffers`).
"""
import os.path as osp
from typing import Optional

from mmcv.runner import HOOKS, CheckpointHook

from .checkpoint_files import prune_checkpoints
from .distributed import gather_objects, sync_buffers


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """Save `iter_N.pth` after iteration N (every `interval`, and at the end with `save_last`).

    Every process takes part (its RNG state goes into the file); rank 0 writes. After a
    complete save the oldest `iter_*.pth` beyond `max_keep_ckpts` are deleted (found by listing
    the directory, so files of an earlier run with another interval are pruned too); a failed
    save raises before anything is deleted.
    """

    saved_iter: Optional[int] = None  # the iteration of the last save, in every process
    saved_path: Optional[str] = None

    def after_train_iter(self, runner):
        if self.by_epoch:
            return
        if not (self.every_n_iters(runner, self.interval)
                or (self.save_last and self.is_last_iter(runner))):
            return
        self.save(runner)

    def save(self, runner) -> None:
        """Save the state after the iteration under way (`runner.iter + 1`) into `saved_path`;
        every process calls it (it gathers their RNG states)."""
        rng_states = gather_objects(runner.step_rng_state)
        if self.sync_buffer:
            sync_buffers(runner.model)
        self.saved_iter = runner.iter + 1
        filename = self.args.get('filename_tmpl', 'iter_{}.pth').format(self.saved_iter)
        self.saved_path = osp.join(self.out_dir, filename)
        if runner.rank != 0:
            return
        runner.logger.info(f'Saving checkpoint at {runner.iter + 1} iterations')
        path = runner.save_checkpoint(self.out_dir, save_optimizer=self.save_optimizer,
                                      rng_states=rng_states, **self.args)
        runner.meta = runner.meta if runner.meta is not None else {}
        runner.meta.setdefault('hook_msgs', dict())['last_ckpt'] = path
        prune_checkpoints(osp.dirname(path), self.max_keep_ckpts, protect=path)
