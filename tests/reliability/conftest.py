"""Synthetic demo data (built once per session) for the reliability tests."""
import pytest


@pytest.fixture(scope='session')
def demo_data(tmp_path_factory):
    """The synthetic GTA-like / Cityscapes-like benchmark, converted (12 + 6 + 1 images)."""
    from tools.convert_datasets import cityscapes, gta
    from tools.synthetic import generate as synthetic
    root = tmp_path_factory.mktemp('demo_data')
    synthetic.main([str(root), '--num-source', '12', '--num-target-train', '6',
                    '--num-target-val', '1', '--size', '128', '256', '--seed', '0'])
    gta.main([str(root / 'gta'), '--nproc', '1'])
    cityscapes.main([str(root / 'cityscapes'), '--nproc', '1'])
    return root


@pytest.fixture
def started():
    """A list for the processes a test starts; those still running at its end are killed."""
    processes = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()
