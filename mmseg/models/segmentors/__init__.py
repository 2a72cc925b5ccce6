from .base import BaseSegmentor
from .encoder_decoder import EncoderDecoder
from .hrda_encoder_decoder import HRDAEncoderDecoder

__all__ = ['BaseSegmentor', 'EncoderDecoder', 'HRDAEncoderDecoder']
