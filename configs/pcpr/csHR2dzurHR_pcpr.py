# PCPR on Cityscapes -> Dark Zurich (night): configs/pcpr/csHR2acdcHR_pcpr.py (plf + fpc,
# annotated there) with the Dark Zurich folders of configs/mic/csHR2dzurHR_mic_hrda.py, so
# that with plf=None and fpc=None it computes what that MIC config computes.

_base_ = ['./csHR2acdcHR_pcpr.py']
dark_zurich = dict(type='DarkZurichDataset', data_root='data/dark_zurich/')
data = dict(
    train=dict(target=dict(img_dir='rgb_anon/train/night/', ann_dir='gt/train/night/',
                           **dark_zurich)),
    val=dict(**dark_zurich),
    test=dict(**dark_zurich))
name = 'csHR2dzurHR_pcpr_s2'
name_dataset = 'cityscapesHR2darkzurichHR_1024x1024'
