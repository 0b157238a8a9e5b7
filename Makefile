# make setup: create .venv and install cgcnn with its test extras (idempotent)
# make demo:  set up, then train on the embedded data and report (about 5 minutes on 2 cores)
# make test:  set up, then type-check the package (mypy) and run the whole test suite
# make accuracy: the accuracy benchmark on ../shared/data (hours on 2 CPU cores; resumable, see docs/RESULTS.md)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: setup demo test clean benchmark accuracy

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/cgcnn demo --out runs/demo

test: setup
	$(PY) -m mypy
	$(PY) -m pytest -q

clean:
	rm -rf runs .pytest_cache

benchmark: setup
	$(PY) benchmarks/speed.py

accuracy: setup
	$(PY) benchmarks/accuracy.py prepare
	for task in formation-energy band-gap band-gap-nonmetal metal-classifier fermi-energy bulk-modulus shear-modulus; do \
		$(PY) benchmarks/accuracy.py run $$task || exit 1; done
	$(PY) benchmarks/accuracy.py learning-curve
	$(PY) benchmarks/accuracy.py report
	$(PY) benchmarks/band_gap.py
	$(PY) benchmarks/calibrate.py
	$(PY) benchmarks/domain.py
