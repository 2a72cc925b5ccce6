# One-command setup and test. `make setup` is idempotent: the stamp file makes a second run a no-op
# unless requirements.txt or setup.py changed.
PYTHON ?= python3.11
VENV ?= .venv
# Installed only when the venv has no torch >= 2.1 (a GPU machine with its own torch keeps it;
# create the venv with VENV_FLAGS=--system-site-packages to reuse a system-wide torch).
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
VENV_FLAGS ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done

.PHONY: setup test demo
setup: $(STAMP)

$(STAMP): requirements.txt setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV_FLAGS) $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=77,<81" wheel
	@$(PY) -c "import torch, sys; v = tuple(int(x) for x in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(v < (2, 1))" 2>/dev/null \
		&& echo "keeping installed torch" || $(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q --no-build-isolation "mmcv>=1.7.0,<1.8"
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	@touch $(STAMP)
	@echo "setup done: activate with 'source $(VENV)/bin/activate'"

test: setup
	$(PY) -m pytest -q tests

demo: setup
	$(PY) tools/demo.py
