"""PCPR / MIC(HRDA) segmentation package (import name `mmseg`, as in MIC)."""
import logging
import warnings

# mmcv 1.7 announces its 2.0 renaming at import, and the torch C++-extension helper it imports
# warns on CPU-only machines that no CUDA runtime exists; neither concerns this code base
# (it compiles nothing).
warnings.filterwarnings('ignore', message='On January 1, 2023, MMCV will release v2.0.0')
logging.getLogger('torch.utils.cpp_extension').setLevel(logging.ERROR)
import mmcv  # noqa: E402

from .version import __version__, parse_version_info, version_info

MMCV_MIN = '1.7.0'
MMCV_MAX = '1.8.0'


def _check_mmcv(installed: str) -> None:
    """Refuse an mmcv outside [MMCV_MIN, MMCV_MAX) with one line that says how to fix it.

    MIC pins mmcv-full 1.3.7; this code base is written for the mmcv 1.7 runtime (Config,
    IterBasedRunner, hooks) and uses no compiled op, so mmcv or mmcv-full 1.7.x both work.
    """
    version = parse_version_info(installed.split('rc')[0])
    if not parse_version_info(MMCV_MIN) <= version < parse_version_info(MMCV_MAX):
        raise ImportError(
            f'mmseg {__version__} needs mmcv>={MMCV_MIN},<{MMCV_MAX} but mmcv {installed} is '
            'installed; run `make setup` or `pip install --no-build-isolation "mmcv==1.7.2"` '
            '(with setuptools<81).')


_check_mmcv(mmcv.__version__)

__all__ = ['__version__', 'version_info']
