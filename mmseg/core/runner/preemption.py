"""Stop a run cleanly when the job scheduler asks for it (SIGTERM, SIGUSR1).

SLURM sends SIGTERM when it preempts or cancels a job, and the signal of `--signal=USR1@120`
that long before the time limit; KillWait seconds after SIGTERM it kills the job. On either
signal `SafeIterBasedRunner` finishes the iteration under way (with its hooks), saves the
`iter_N.pth` that the checkpoint hook would save after it, runs the after-run hooks (loggers
close) and raises `Preempted`: the command line exits with status 75 (EX_TEMPFAIL), the job
script requeues the job and `--auto-resume` continues exactly where it stopped.

In a distributed run the processes agree once per iteration whether to stop (one all-reduce),
so all of them save the same iteration even when only some were signalled, or at different
moments. DataLoader workers ignore both signals (`ignore_preemption_signals`): SLURM signals
every process of the job step, and a worker killed by it would fail the main process before it
could save.
"""
import os
import signal
import threading
from types import FrameType
from typing import Dict, Optional

import torch
import torch.distributed as dist
from torch import nn

from ...utils.errors import RetryableStop
from .checkpoint_hook import SafeCheckpointHook
from .distributed import is_distributed

PREEMPTION_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(RetryableStop):
    """The run stopped on a signal after iteration `iteration`, saved in `checkpoint`."""

    def __init__(self, signum: int, iteration: int, checkpoint: str):
        self.signal_name = signal.Signals(signum).name
        self.iteration = iteration
        self.checkpoint = checkpoint
        super().__init__(f'{self.signal_name} received: stopped after iteration {iteration}, '
                         f'checkpoint {checkpoint}; run the same command with --auto-resume '
                         'to continue.')


def ignore_preemption_signals(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: the worker ignores SIGUSR1 and any SIGTERM but its parent's
    (draws no random numbers).

    The parent's SIGTERM (`Process.terminate`, e.g. by multiprocessing at exit) must still end
    the worker, or the parent waits for it forever; torch's own worker handler tells the two
    apart by the sender in the same way. Here SIGTERM is blocked and taken by a thread.
    """
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # threads started later inherit it
    threading.Thread(target=exit_on_parents_sigterm, name='sigterm', daemon=True).start()


def exit_on_parents_sigterm() -> None:
    while True:
        if signal.sigwaitinfo({signal.SIGTERM}).si_pid == os.getppid():
            os._exit(0)  # as torch's worker handler does


class PreemptionWatch:
    """Records the first SIGTERM/SIGUSR1 while entered (`with watch:`; handlers are installed
    from the main thread only, the previous ones restored on exit)."""

    def __init__(self):
        self.received = 0  # the signal number, 0 for none
        self._previous: Dict[int, object] = {}

    def __enter__(self) -> 'PreemptionWatch':
        self.received = 0
        if threading.current_thread() is threading.main_thread():
            for signum in PREEMPTION_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._record)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            # None: a handler installed outside Python, which cannot be put back; the default.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    def _record(self, signum: int, frame: Optional[FrameType]) -> None:
        self.received = self.received or signum

    def agreed_signal(self, model: nn.Module) -> int:
        """The signal that stops the run after this iteration, 0 to go on. In a distributed
        run every process must call it once per iteration: the largest signal number of all
        processes wins (an all-reduce on the model's device)."""
        if not is_distributed():
            return self.received
        flag = torch.tensor([self.received], device=next(model.parameters()).device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())


def save_preemption_checkpoint(runner, signum: int) -> str:
    """Save the state after the iteration under way through the run's checkpoint hook (same
    directory, RNG states of all processes, pruning, latest.pth), or into the work dir without
    one; nothing twice if the hook has just saved it. Every process calls it; returns the path."""
    runner.logger.warning(f'{signal.Signals(signum).name} received: stopping after iteration '
                          f'{runner.iter + 1}')
    hook = next((h for h in runner.hooks if isinstance(h, SafeCheckpointHook)), None)
    if hook is None:
        hook = SafeCheckpointHook(by_epoch=False, out_dir=runner.work_dir)
    if hook.saved_iter != runner.iter + 1:
        hook.save(runner)
    if is_distributed():
        # No process exits before process 0 has written the file: `srun --kill-on-bad-exit`
        # kills the other tasks as soon as the first one exits (with 75).
        dist.barrier()
    return hook.saved_path
