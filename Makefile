# ppgo: `make demo` runs a real example, `make test` runs every test.
# Both set up what they need in .venv (Python) and Go's module cache.

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
GO     ?= go

# cgo needs this interpreter's headers to compile pybind/ (vet and tests too);
# a call outside the limited API pybind/shim.c keeps to is undeclared: an error.
export CGO_CFLAGS := -O2 -Werror=implicit-function-declaration -I$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])')

.PHONY: all venv install ppft-shim demo test test-go fuzz test-shipping test-python test-kubernetes soak lint clean ppserver ppserver-standalone release-venv wheels test-wheels

all: install

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

# Test tools, cloudpickle (ppgo's optional extra), and libraries whose own
# code the tests drive through pp.Executor (tests/test_real_code.py); numpy
# for the shared-memory payload tests (tests/test_shm.py).
venv: $(VPY)
	$(VPY) -m pip install -q pytest pytest-timeout flake8 mypy cloudpickle==3.1.3 numpy==2.4.6 \
		scipy==1.17.1 emcee==3.1.6

# Installs the package the way users do: pip builds the wheel (and the Go
# extension in it), then installs the wheel. The wheel stays in build/dist
# for tests that install it elsewhere (the pathos recipe).
DIST := build/dist

install: venv
	rm -f $(DIST)/ppgo-*.whl
	$(VPY) -m pip wheel -q --no-deps -w $(DIST) .
	$(VPY) -m pip install -q --force-reinstall --no-deps $(DIST)/ppgo-*.whl

# The ppft stand-in that lets pathos run on ppgo (docs/PATHOS.md).
ppft-shim: venv
	rm -f $(DIST)/ppft-*.whl
	$(VPY) -m pip wheel -q --no-deps -w $(DIST) ./shims/ppft

# The ppserver binary on its own (`make install` also puts one in .venv/bin).
# Static, like the one in the wheel; the standalone build embeds a Python
# (go-embed-python, ~40 MB) for nodes that have none.
PPSERVER_LDFLAGS = -s -w -X main.version=$(shell sed -n 's/^version = "\(.*\)"/\1/p' python/pp/_version.py)

ppserver:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(PPSERVER_LDFLAGS)" -o build/ppserver ./ppserver

ppserver-standalone:
	CGO_ENABLED=0 $(GO) build -tags standalone -trimpath -ldflags "$(PPSERVER_LDFLAGS)" -o build/ppserver-standalone ./ppserver

# The release (docs/RELEASING.md): the sdist and manylinux2014 wheels for
# x86_64 and aarch64 in dist/, built with the pinned tools of
# release/requirements.txt (Zig as cgo's C compiler, auditwheel), which live
# in build/release/venv, remade when that file changes.
RELEASE_VENV := build/release/venv
RPY          := $(RELEASE_VENV)/bin/python

$(RELEASE_VENV)/.installed: release/requirements.txt
	rm -rf $(RELEASE_VENV)
	$(PYTHON) -m venv $(RELEASE_VENV)
	$(RPY) -m pip install -q --upgrade pip
	$(RPY) -m pip install -q -r release/requirements.txt
	touch $@

release-venv: $(RELEASE_VENV)/.installed

wheels: release-venv
	$(RPY) release/wheels.py

# Checks what `make wheels` built: auditwheel's policy, the stable ABI, the
# binaries' architecture and glibc symbols, aarch64 under qemu, the wheel
# installed and tested on every CPython 3.10+ here with no Go or C compiler,
# and the sdist with and without Go (release/test_wheels.py).
test-wheels: wheels
	$(RPY) -m pytest -q -s -rs release

demo: install
	cd examples && ../$(VPY) sum_primes.py

# Style and static checks: gofmt, go vet (also of the standalone ppserver
# build), flake8 (PEP 8), mypy (the typed API).
GO_DIRS = core pybind ppserver python deploy
K8S_MODULE := deploy/kubernetes
lint: venv
	@test -z "$$(gofmt -l $(GO_DIRS))" || { gofmt -l $(GO_DIRS); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags standalone ./ppserver/...
	cd $(K8S_MODULE) && $(GO) vet ./...
	$(VPY) -m flake8 --max-line-length 100 python tests examples bench release setup.py
	$(VPY) -m mypy --ignore-missing-imports python/pp python/ppgo

# Tests keep what they save for people to look at (the status page's
# screenshots, core/metrics) under build/artifacts/_artifacts.
TEST_ARTIFACTS := build/artifacts

test-go:
	mkdir -p $(TEST_ARTIFACTS)
	$(GO) test -race -count=1 -artifacts -outputdir $(TEST_ARTIFACTS) ./...

# test-go runs each fuzz target's seed corpus; fuzz fuzzes every decoder
# that reads a peer's or a worker's bytes for FUZZTIME each: briefly in
# `make test`, as long as you like by hand (make fuzz FUZZTIME=10m).
FUZZTIME ?= 5s
FUZZ_PACKAGES = ./core/wire ./core/auth ./core/discovery ./core/pool
fuzz:
	GO=$(GO) tools/fuzz.sh $(FUZZTIME) $(FUZZ_PACKAGES)

test-python: install
	$(VPY) -m pytest -q tests

# The shipping rules in pure Python, against the source tree with no Go core
# built (python/pp shadows the installed package, whose _core is not seen).
test-shipping: venv
	PYTHONPATH=python $(VPY) -m pytest -q -p no:cacheprovider tests/test_shipping.py

# The Kubernetes manifests and the image's Dockerfile (docs/DEPLOY.md),
# checked against the official API types and BuildKit's parser in a Go
# module of their own (K8S_MODULE), so that ppgo's module does not depend
# on them; the Job's client script runs against a ppserver started as the
# pods start it, from the venv that stands in for the image's /opt/ppgo.
# (The systemd unit's tests are in tests/, run by test-python.)
test-kubernetes: install
	cd $(K8S_MODULE) && PPGO_VENV=$(abspath $(VENV)) $(GO) test -race -count=1 ./...

test: lint test-go fuzz test-shipping test-python test-kubernetes test-wheels

# The fault campaign's soak at full size (CI runs tests/faults bounded, as
# part of test-python): 200 000 jobs and two minutes of chaos at least.
soak: install
	PP_SOAK_JOBS=200000 PP_SOAK_SECONDS=120 PP_SOAK_REPORT=.bench/soak.json \
		$(VPY) -m pytest -q -s tests/faults/test_soak.py

clean:
	rm -rf $(VENV) build dist python/*.egg-info
	find python -name '_core*.so' -delete

# Benchmarks ppgo against pp 1.7.0, ppft (each installed into a venv under
# .bench/), multiprocessing.Pool and ProcessPoolExecutor; see docs/PERFORMANCE.md.
# One workload or library: make bench BENCH_ARGS="--only tiny --lib ppgo".
.PHONY: bench
bench: install
	$(VPY) bench/run.py $(BENCH_ARGS)
