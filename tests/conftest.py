import os

import pytest
import torch

# Tests run on CPU with tiny models; one thread keeps parallel runs on a 2-core CI machine fair.
torch.set_num_threads(int(os.environ.get('MMSEG_TEST_THREADS', '1')))

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: a test that takes more than a few seconds')
    config.addinivalue_line('markers', 'cuda: needs a CUDA device (skipped without one); '
                                       '`pytest -m cuda` runs them on a GPU machine')


@pytest.fixture(params=['cpu', pytest.param('cuda', marks=[pytest.mark.cuda, CUDA])])
def device(request):
    """The device a test runs on: 'cpu', and 'cuda' where a GPU is visible."""
    return request.param


@pytest.fixture(autouse=True)
def _seed_everything():
    import random

    import numpy as np
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
