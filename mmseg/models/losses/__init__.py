from .accuracy import Accuracy, accuracy
from .cross_entropy_loss import CrossEntropyLoss, cross_entropy
from .utils import reduce_loss, weight_reduce_loss

__all__ = ['accuracy', 'Accuracy', 'cross_entropy', 'CrossEntropyLoss', 'reduce_loss',
           'weight_reduce_loss']
