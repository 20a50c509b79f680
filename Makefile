# `make demo` and `make test` set up everything they need in .venv (first time: a few minutes;
# finn-plus pulls torch).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dse run configs/tfc-w1a1-pareto.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf studies/* build *.egg-info
