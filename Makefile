# make setup: create .venv and install cgcnn with its test extras (idempotent)
# make demo:  set up, then train on the embedded data and report (1 to 4 minutes on 2 cores, set-up included)
# make test:  set up, then type-check the package (mypy), build the docs site and run the whole test suite
# make docs:  build the documentation site into site/ (warnings are errors)
# make accuracy: the accuracy benchmark on ../shared/data (hours on 2 CPU cores; resumable, see docs/RESULTS.md)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: setup demo test docs clean benchmark accuracy

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/cgcnn demo --out runs/demo
	@echo "next, predict your own crystals with a shipped model (or first: source $(VENV)/bin/activate):"
	@echo "  $(VENV)/bin/cgcnn predict --model formation-energy --out predictions.csv YOUR_CIF_FOLDER/"

test: setup
	$(PY) -m mypy
	$(MAKE) --no-print-directory docs
	$(PY) -m pytest -q

docs: setup
	$(PY) -c "from cgcnn.cli import reference_markdown; open('docs/cli.md', 'w').write(reference_markdown() + '\n')"
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

clean:
	rm -rf runs .pytest_cache site

benchmark: setup
	$(PY) benchmarks/speed.py

accuracy: setup
	$(PY) benchmarks/accuracy.py prepare
	for task in formation-energy band-gap band-gap-nonmetal metal-classifier fermi-energy bulk-modulus shear-modulus; do \
		$(PY) benchmarks/accuracy.py run $$task || exit 1; done
	$(PY) benchmarks/accuracy.py learning-curve
	$(PY) benchmarks/accuracy.py report
	$(PY) benchmarks/calibrate.py
	$(PY) benchmarks/domain.py
	$(PY) benchmarks/ensemble_size.py
	$(PY) benchmarks/training_sets.py
	$(PY) benchmarks/shift.py
	$(PY) benchmarks/accuracy.py report  # again: its table quotes shift.py's figures on new crystals
	$(PY) benchmarks/band_gap.py
