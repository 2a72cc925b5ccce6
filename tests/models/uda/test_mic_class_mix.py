import numpy as np
import torch

from mmseg.models.utils.dacs_transforms import (generate_class_mask, get_class_masks, one_mix,
                                                strong_transform)


def _two_image_labels():
    """Image 0 holds classes {0, 1}; image 1 holds {2, 255}: 4 candidates for the batch."""
    labels = torch.zeros(2, 1, 2, 2, dtype=torch.long)
    labels[0, 0] = torch.tensor([[0, 1], [1, 0]])
    labels[1, 0] = torch.tensor([[2, 255], [255, 2]])
    return labels


def test_generate_class_mask_marks_pixels_of_given_classes():
    label = torch.tensor([[[0, 1, 2], [2, 255, 1]]])
    mask = generate_class_mask(label, torch.tensor([1, 255]))
    assert mask.tolist() == [[[0, 1, 0], [0, 1, 1]]]


def test_class_candidates_are_whole_batch_unique_including_255():
    labels = _two_image_labels()
    np.random.seed(3)
    masks = get_class_masks(labels)
    np.random.seed(3)
    candidates = np.array([0, 1, 2, 255])
    for i, mask in enumerate(masks):
        chosen = candidates[np.random.choice(4, 2, replace=False)]
        expected = np.isin(labels[i, 0].numpy(), chosen).astype(np.int64)
        assert mask.shape == (1, 1, 2, 2)
        assert np.array_equal(mask[0, 0].numpy(), expected)


def test_255_can_be_chosen_and_a_mask_can_be_empty():
    """Because candidates come from the whole batch, image 0 may draw only image 1's classes."""
    labels = _two_image_labels()
    saw_255, saw_empty = False, False
    for seed in range(50):
        np.random.seed(seed)
        masks = get_class_masks(labels)
        saw_255 |= bool(masks[1][0, 0, 0, 1] == 1)
        saw_empty |= bool(masks[0].sum() == 0)
    assert saw_255 and saw_empty


def test_ceil_half_of_candidates_are_chosen():
    for n in (1, 2, 3, 5, 6):
        labels = torch.arange(n).view(1, 1, 1, n)
        for seed in range(5):
            np.random.seed(seed)
            mask = get_class_masks(labels)[0]
            assert int(mask.sum()) == (n + 1) // 2


def test_one_mix_pastes_source_pixels_onto_target():
    mask = torch.tensor([[[[1, 0], [0, 1]]]])
    src_img, trg_img = torch.full((3, 2, 2), 1.0), torch.full((3, 2, 2), -1.0)
    img, lbl = one_mix(mask, data=torch.stack([src_img, trg_img]),
                       target=torch.stack([torch.full((2, 2), 4), torch.full((2, 2), 7)]))
    assert img.shape == (1, 3, 2, 2) and lbl.shape == (1, 1, 2, 2)
    assert torch.equal(img[0, 0], torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))
    assert torch.equal(lbl[0, 0], torch.tensor([[4, 7], [7, 4]]))
    _, weight = one_mix(mask, target=torch.stack([torch.ones(2, 2), torch.full((2, 2), 0.3)]))
    assert torch.allclose(weight[0, 0], torch.tensor([[1.0, 0.3], [0.3, 1.0]]))


def test_one_mix_without_mask_returns_inputs():
    data = torch.randn(2, 3, 2, 2)
    assert one_mix(None, data=data)[0] is data


def test_strong_transform_is_one_mix_when_jitter_and_blur_not_drawn():
    mask = torch.tensor([[[[1, 0], [0, 1]]]])
    data = torch.randn(2, 3, 2, 2)
    param = dict(mix=mask, color_jitter=0.2, color_jitter_s=0.2, color_jitter_p=0.2, blur=0.5,
                 mean=[0, 0, 0], std=[1, 1, 1])
    img, _ = strong_transform(param, data=data)
    expected = torch.where(mask[0].bool(), data[0], data[1])
    assert torch.equal(img[0], expected)


def test_strong_transform_of_weights_draws_no_random_number():
    param = dict(mix=torch.ones(1, 1, 2, 2, dtype=torch.long), color_jitter=0.9,
                 color_jitter_s=0.2, color_jitter_p=0.2, blur=0.9, mean=[0] * 3, std=[1] * 3)
    np.random.seed(0)
    torch.manual_seed(0)
    strong_transform(param, target=torch.ones(2, 2, 2))
    assert np.random.uniform() == np.random.RandomState(0).uniform()
    assert torch.equal(torch.rand(1), torch.rand(1, generator=torch.Generator().manual_seed(0)))
