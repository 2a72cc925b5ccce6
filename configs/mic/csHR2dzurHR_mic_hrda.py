# MIC(HRDA) on Cityscapes -> Dark Zurich (night): MIC's adverse-condition settings are the
# same for ACDC and Dark Zurich (experiments.py id 80: 'separate' masking, no pseudo-label
# margin crop), so this file is configs/mic/csHR2acdcHR_mic_hrda.py with the Dark Zurich
# folders of configs/_base_/datasets/uda_cityscapesHR_to_darkzurichHR_1024x1024.py.

_base_ = ['./csHR2acdcHR_mic_hrda.py']
dark_zurich = dict(type='DarkZurichDataset', data_root='data/dark_zurich/')
data = dict(
    # Night images only (the day/twilight folders are not used, as in MIC).
    train=dict(target=dict(img_dir='rgb_anon/train/night/', ann_dir='gt/train/night/',
                           **dark_zurich)),
    val=dict(**dark_zurich),
    test=dict(**dark_zurich))
name = 'csHR2dzurHR_mic_hrda_s2'
name_dataset = 'cityscapesHR2darkzurichHR_1024x1024'
