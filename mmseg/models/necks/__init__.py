from .vit_adapter import ViTAdapter

__all__ = ['ViTAdapter']
