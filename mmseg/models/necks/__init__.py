from .simple_feature_pyramid import SimpleFeaturePyramid
from .vit_adapter import ViTAdapter

__all__ = ['SimpleFeaturePyramid', 'ViTAdapter']
