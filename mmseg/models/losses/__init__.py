from .accuracy import Accuracy, accuracy
from .cross_entropy_loss import CrossEntropyLoss, cross_entropy
from .prototype_contrast import (proto_loss_weight, prototype_compactness_loss,
                                 prototype_contrast_loss)
from .utils import reduce_loss, weight_reduce_loss

__all__ = ['accuracy', 'Accuracy', 'cross_entropy', 'CrossEntropyLoss', 'reduce_loss',
           'weight_reduce_loss', 'prototype_contrast_loss', 'prototype_compactness_loss',
           'proto_loss_weight']
