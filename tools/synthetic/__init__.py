"""The synthetic domain-shift benchmark: a seeded GTA-like / Cityscapes-like data generator
(`generate`), the ImageNet stand-in pretraining of its small MiT (`pretrain`) and the driver
that trains every method over several seeds and compares them (`benchmark`). Its configs are
`configs/demo/`; `tools/demo.py` is the one-command demo built on it."""
