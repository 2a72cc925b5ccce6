"""Installs the project's own `mmseg` package (it replaces the mmsegmentation distribution)."""
import os.path as osp

from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open(osp.join(osp.dirname(__file__), 'mmseg', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmseg',
    version=read_version(),
    description='PCPR / MIC(HRDA) unsupervised domain adaptation for semantic segmentation',
    packages=find_packages(include=('mmseg', 'mmseg.*')),
    python_requires='>=3.10',
    license='Apache License 2.0',
)
