import os

import pytest
import torch

# Tests run on CPU with tiny models; one thread keeps parallel runs on a 2-core CI machine fair.
torch.set_num_threads(int(os.environ.get('MMSEG_TEST_THREADS', '1')))


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: a test that takes more than a few seconds')


@pytest.fixture(autouse=True)
def _seed_everything():
    import random

    import numpy as np
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
