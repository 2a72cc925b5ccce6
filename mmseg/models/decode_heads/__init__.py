from .daformer_head import DAFormerHead
from .decode_head import BaseDecodeHead
from .hrda_head import HRDAHead
from .segformer_head import SegFormerHead

__all__ = ['BaseDecodeHead', 'DAFormerHead', 'HRDAHead', 'SegFormerHead']
