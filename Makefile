# ppgo: `make demo` runs a real example, `make test` runs every test.
# Both set up what they need in .venv (Python) and Go's module cache.

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
GO     ?= go

# cgo needs this interpreter's headers to compile pybind/ (vet and tests too).
export CGO_CFLAGS := -O2 -I$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')

.PHONY: all venv install demo test test-go test-python lint clean

all: install

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

venv: $(VPY)
	$(VPY) -m pip install -q pytest pytest-timeout flake8 mypy

# Installs the package the way users do: pip builds the Go extension.
install: venv
	$(VPY) -m pip install -q --force-reinstall --no-deps .

demo: install
	cd examples && ../$(VPY) sum_primes.py

# Style and static checks: gofmt, go vet, flake8 (PEP 8), mypy (the typed API).
lint: venv
	@test -z "$$(gofmt -l core pybind)" || { gofmt -l core pybind; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(VPY) -m flake8 --max-line-length 100 python tests examples setup.py
	$(VPY) -m mypy --ignore-missing-imports python/pp

test-go:
	$(GO) test -race -count=1 ./...

test-python: install
	$(VPY) -m pytest -q tests

test: lint test-go test-python

clean:
	rm -rf $(VENV) build dist python/*.egg-info
	find python -name '_core*.so' -delete
