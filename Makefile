# `make demo` and `make test` set up everything they need in .venv (first time: a few minutes;
# finn-plus pulls torch).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dse run configs/tfc-w1a1-pareto.yaml

# tests/test_dashboard.py drives headless Chromium (Debian packages; this runs as root, as CI does).
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver)

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf studies/* build *.egg-info
