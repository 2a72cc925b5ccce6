from .inference import inference_segmentor, init_segmentor, show_result_pyplot
from .test import multi_gpu_test, single_gpu_test
from .train import set_random_seed, train_segmentor

__all__ = ['set_random_seed', 'train_segmentor', 'init_segmentor', 'inference_segmentor',
           'show_result_pyplot', 'multi_gpu_test', 'single_gpu_test']
