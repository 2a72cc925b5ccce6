from .builder import DATASETS, PIPELINES, build_dataloader, build_dataset

__all__ = ['DATASETS', 'PIPELINES', 'build_dataloader', 'build_dataset']
