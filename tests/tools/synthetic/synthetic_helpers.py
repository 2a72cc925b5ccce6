"""The small generated data set of the generator and converter tests."""
from tools.synthetic import generate as synthetic


def make_small_synthetic(root):
    """9 images per domain (one full FORCED_CYCLE) and 6 SYNTHIA images, 64 x 128 px."""
    synthetic.generate(str(root), num_source=9, num_target_train=9, num_target_val=2,
                       size=(64, 128), seed=0, synthia=True, num_synthia=6)
    return root
