"""mmcv's IterBasedRunner made exactly resumable, safe to load and robust to bad steps.

`train_segmentor` uses `SafeIterBasedRunner` whenever the config says
`runner = dict(type='IterBasedRunner', ...)`, so MIC configs keep working. Differences from
mmcv's runner:

- A checkpoint `iter_N.pth` holds the state *after* N iterations and resumes at exactly N
  (`meta.iter = N`, `meta.exact_resume = 1`). mmcv stores N - 1 and repeats one iteration;
  such (MIC) checkpoints are recognised by the missing marker and resumed at `meta.iter + 1`.
- Besides model (student, EMA teacher, ImageNet model, prototype memory: all in the state
  dict) and optimizer, a checkpoint carries `train_state` (the UDA loop's `local_iter`, the
  fp16 grad scaler), `rng` (python/numpy/torch/CUDA states of every process) and the data
  stream's seed (`meta.data_seed`); the stream position is `N * samples_per_gpu`.
- Hooks run with the random generators saved and restored around them, so evaluation or
  logging never shifts the training step's random draws (a resumed run matches an
  uninterrupted one whatever the evaluation interval).
- The optimizer state follows parameter names (`optimizer_state.py`), so checkpoints written
  with another module order (MIC's, older ones of ours) resume with every moment in place.
- Files are read with `safe_load` (weights only unless `--unsafe-load`), written atomically.
- Non-finite steps are skipped and counted (`nonfinite_loss`, see `nonfinite.py`); running out
  of GPU memory or a data error in a worker becomes a one-line `UserError`.
- SIGTERM/SIGUSR1 (a scheduler's preemption or time limit) stop the run after the iteration
  under way with a checkpoint of it; `run` then raises `Preempted` (see `preemption.py`).
"""
import os.path as osp
import time

import mmcv
import torch
from mmcv.runner import RUNNERS, IterBasedRunner, get_dist_info
from mmcv.runner.checkpoint import get_state_dict, weights_to_cpu

from ...utils.checkpoint import (extract_segmentor_state_dict, load_state_dict_checked,
                                 safe_load)
from ...utils.device import unwrap_model
from ...utils.errors import UserError
from .checkpoint_files import atomic_save, link_latest
from .data import ResumableSampler
from .nonfinite import NONFINITE_DEFAULT, NonFiniteMonitor
from .optimizer_state import remap_optimizer_state, writer_parameter_order
from .preemption import Preempted, PreemptionWatch, save_preemption_checkpoint
from .rng import get_rng_state, resume_rng_state, set_rng_state

EXACT_RESUME = 'exact_resume'
OutOfMemoryError = getattr(torch, 'OutOfMemoryError', torch.cuda.OutOfMemoryError)


def plain(value):
    """Meta values as python scalars/containers (numpy values would need full unpickling)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if hasattr(value, 'tolist') and not isinstance(value, torch.Tensor):
        return value.tolist()
    return value


def worker_error_message(message: str) -> str:
    """The original message of a UserError re-raised by a DataLoader worker (which prefixes the
    worker's traceback)."""
    if 'Original Traceback' in message:
        return message.rsplit('UserError: ', 1)[-1].strip()
    return message


@RUNNERS.register_module()
class SafeIterBasedRunner(IterBasedRunner):
    """IterBasedRunner with exact resume, safe loading and non-finite/OOM handling.

    Args (besides mmcv's):
        data_seed (int): seed of the training data stream (`ResumableSampler`); a resumed run
            takes the checkpoint's.
        nonfinite_loss (dict | None): `dict(max_consecutive=K)`; None disables the check.

    Checkpoints are read with `safe_load`, which follows the process-wide `--unsafe-load`.
    """

    def __init__(self, *args, data_seed=0, nonfinite_loss=NONFINITE_DEFAULT, **kwargs):
        super().__init__(*args, **kwargs)
        self.data_seed = data_seed
        self.nonfinite = NonFiniteMonitor.from_cfg(nonfinite_loss)
        if self.nonfinite.enabled:
            self.register_hook(self.nonfinite, priority=NonFiniteMonitor.PRIORITY)
        self.step_rng_state = None
        self._resume_rng_state = None
        self.preemption = PreemptionWatch()

    # ------------------------------------------------------------------ hooks
    def register_checkpoint_hook(self, checkpoint_config):
        if isinstance(checkpoint_config, dict) and \
                checkpoint_config.get('type', 'CheckpointHook') == 'CheckpointHook':
            checkpoint_config = dict(checkpoint_config, type='SafeCheckpointHook')
        super().register_checkpoint_hook(checkpoint_config)

    def register_optimizer_hook(self, optimizer_config):
        """mmcv's OptimizerHook becomes `NonFiniteSkipOptimizerHook`, which also averages the
        gradients of distributed runs (there is no DDP wrapper)."""
        if isinstance(optimizer_config, dict) and \
                optimizer_config.get('type', 'OptimizerHook') == 'OptimizerHook':
            optimizer_config = dict(optimizer_config, type='NonFiniteSkipOptimizerHook',
                                    skip_nonfinite=self.nonfinite.enabled)
        super().register_optimizer_hook(optimizer_config)

    def call_hooks_preserving_rng(self, name: str) -> None:
        state = get_rng_state()
        self.step_rng_state = state
        try:
            self.call_hook(name)
        finally:
            set_rng_state(state)

    # ------------------------------------------------------------------ training
    def run(self, data_loaders, workflow, max_iters=None, **kwargs):
        """Start each resumable data stream where iteration `self.iter` needs it; stop early
        on SIGTERM/SIGUSR1 (`Preempted`)."""
        for loader in data_loaders:
            if isinstance(loader.sampler, ResumableSampler):
                loader.sampler.seed = self.data_seed
                loader.sampler.start = self.iter * loader.batch_size
        model = unwrap_model(self.model)
        if hasattr(model, 'skip_nonfinite'):
            model.skip_nonfinite = self.nonfinite.enabled
        with self.preemption:
            try:
                super().run(data_loaders, workflow, max_iters, **kwargs)
            except Preempted:
                self.call_hook('after_epoch')  # what mmcv's run does after its last iteration
                self.call_hook('after_run')
                raise

    def next_batch(self, data_loader):
        try:
            return next(data_loader)
        except UserError as err:
            raise UserError(worker_error_message(str(err))) from None

    def train_step(self, data_batch, **kwargs) -> dict:
        try:
            outputs = self.model.train_step(data_batch, self.optimizer, **kwargs)
        except OutOfMemoryError:
            raise UserError(
                f'out of GPU memory in training iteration {self.iter + 1}. Try '
                "mixed_precision='bf16', smaller crops (crop_size / sync_crop_size, "
                'hr_crop_size) or data.samples_per_gpu=1.') from None
        if not isinstance(outputs, dict):
            raise TypeError('model.train_step() must return a dict')
        return outputs

    def train(self, data_loader, **kwargs):
        self.model.train()
        self.mode = 'train'
        self.data_loader = data_loader
        self._epoch = data_loader.epoch
        self.data_batch = self.next_batch(data_loader)
        self.call_hooks_preserving_rng('before_train_iter')
        if self._resume_rng_state is not None:
            if resume_rng_state(self._resume_rng_state):
                self.logger.warning('the checkpoint was written without CUDA (a CPU run): the '
                                    'CUDA generator is seeded from its CPU state, so this run '
                                    'is reproducible but differs from one that never stopped.')
            self._resume_rng_state = None
        outputs = self.train_step(self.data_batch, **kwargs)
        if 'log_vars' in outputs:
            self.log_buffer.update(outputs['log_vars'], outputs['num_samples'])
        self.outputs = outputs
        self.call_hooks_preserving_rng('after_train_iter')
        signum = self.preemption.agreed_signal(unwrap_model(self.model))
        if signum:
            checkpoint = save_preemption_checkpoint(self, signum)
        del self.data_batch
        self._inner_iter += 1
        self._iter += 1
        if signum:
            raise Preempted(signum, self.iter, checkpoint)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, out_dir, filename_tmpl='iter_{}.pth', meta=None,
                        save_optimizer=True, create_symlink=True, rng_states=None):
        """Write the state after iteration `self.iter + 1` atomically; return the path."""
        completed = self.iter + 1
        meta = dict(meta or {})
        meta.update(self.meta or {})
        model = unwrap_model(self.model)
        meta.update(mmcv_version=mmcv.__version__, time=time.asctime(), epoch=self.epoch + 1,
                    iter=completed, data_seed=self.data_seed, world_size=self.world_size)
        meta[EXACT_RESUME] = 1
        if getattr(model, 'CLASSES', None) is not None:
            meta['CLASSES'] = model.CLASSES
        checkpoint = dict(meta=plain(meta), state_dict=weights_to_cpu(get_state_dict(model)))
        if save_optimizer and self.optimizer is not None:
            checkpoint['optimizer'] = self.optimizer.state_dict()
        if hasattr(model, 'train_state'):
            checkpoint['train_state'] = model.train_state()
        checkpoint['rng'] = rng_states if rng_states is not None else [self.step_rng_state]
        filename = filename_tmpl.format(completed)
        path = osp.join(out_dir, filename)
        mmcv.mkdir_or_exist(out_dir)
        atomic_save(checkpoint, path)
        if create_symlink:
            link_latest(out_dir, filename)
        return path

    def load_checkpoint(self, filename, map_location='cpu', strict=False, revise_keys=None):
        """Weights only (`--load-from`): a UDA checkpoint into the whole UDA model, a plain
        segmentor (or a UDA checkpoint into a plain segmentor) into the student."""
        checkpoint = self._read(filename)
        model = unwrap_model(self.model)
        state_dict = checkpoint.get('state_dict', checkpoint)
        is_uda_model = hasattr(model, 'get_model')
        is_uda_ckpt = any(k.startswith(('model.', 'module.model.')) for k in state_dict)
        if is_uda_model and not is_uda_ckpt:
            load_state_dict_checked(model.get_model(),
                                    extract_segmentor_state_dict(checkpoint), filename)
        elif is_uda_model:
            load_state_dict_checked(model, extract_uda_state_dict(state_dict), filename)
        else:
            load_state_dict_checked(model, extract_segmentor_state_dict(checkpoint), filename)
        self.logger.info(f'load weights from {filename}')
        return checkpoint

    def resume(self, checkpoint, resume_optimizer=True, map_location='cpu'):
        """Restore everything `save_checkpoint` wrote; see the module docstring."""
        path = checkpoint
        ckpt = self._read(path)
        if 'state_dict' not in ckpt or 'iter' not in (ckpt.get('meta') or {}):
            raise UserError(f'{path} is not a training checkpoint (no state_dict/meta.iter); '
                            'use --load-from to start a new run from its weights.')
        model = unwrap_model(self.model)
        load_state_dict_checked(model, extract_uda_state_dict(ckpt['state_dict']), path)
        meta = ckpt['meta']
        iteration = int(meta['iter'])
        if not meta.get(EXACT_RESUME):
            iteration += 1
            self.logger.warning(f'{path} was written by mmcv/MIC, whose meta.iter is one less '
                                f'than the iterations done; resuming at iteration {iteration}.')
        if resume_optimizer:
            self._resume_optimizer(ckpt, path)
        if hasattr(model, 'load_train_state'):
            model.load_train_state(ckpt.get('train_state'), iteration)
        self._resume_streams(ckpt, meta, path)
        self._epoch = int(meta.get('epoch', 0))
        self._iter = self._inner_iter = iteration
        self.logger.info(f'resumed from {path} at iteration {iteration}')
        return ckpt

    def _read(self, path):
        ckpt = safe_load(path)
        if not isinstance(ckpt, dict):
            raise UserError(f'{path} does not hold a checkpoint dict (found '
                            f'{type(ckpt).__name__})')
        return ckpt

    def _resume_optimizer(self, ckpt, path):
        if 'optimizer' not in ckpt:
            self.logger.warning(f'{path} has no optimizer state; AdamW restarts its moments.')
            return
        named = list(unwrap_model(self.model).named_parameters())
        # Only the parameters the optimizer holds (LayerDecayOptimizerConstructor leaves frozen
        # ones out; mmcv's constructor holds all): the writer's optimizer held the same ones.
        held = {id(param) for group in self.optimizer.param_groups for param in group['params']}
        saved_order = writer_parameter_order(extract_uda_state_dict(ckpt['state_dict']),
                                             [name for name, param in named if id(param) in held])
        state = remap_optimizer_state(ckpt['optimizer'], saved_order,
                                      self.optimizer.param_groups, named, path)
        try:
            self.optimizer.load_state_dict(state)
        except (ValueError, KeyError) as err:
            raise UserError(f'{path}: the optimizer state does not fit this model/optimizer '
                            f'({err}); was it written with another config?') from None

    def _resume_streams(self, ckpt, meta, path):
        """The random generators of this process and the data stream's seed."""
        rank, world_size = get_dist_info()
        states = ckpt.get('rng')
        if 'data_seed' in meta:
            self.data_seed = int(meta['data_seed'])
        if not states:
            self.logger.warning(f'{path} has no random generator states (a MIC checkpoint?); '
                                'the run continues, but not bit-identically.')
            return
        if len(states) != world_size or meta.get('world_size', world_size) != world_size:
            self.logger.warning(f'{path} was written by {len(states)} processes, this run has '
                                f'{world_size}: random streams and data order differ from an '
                                'uninterrupted run.')
        self._resume_rng_state = states[rank % len(states)]


def extract_uda_state_dict(state_dict):
    """A full-model state dict without a DataParallel `module.` prefix."""
    return {k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state_dict.items()}
