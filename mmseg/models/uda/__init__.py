from .dacs import DACS
from .pcpr import PCPR
from .prototypes import ProjectionHead

__all__ = ['DACS', 'PCPR', 'ProjectionHead']
