# Everything a fresh Debian machine needs, installed on first use.
#   make demo   converts a generated one-minute 480i sample on local workers
#   make test   runs the test suite (make test-fast: without the slow end-to-end runs)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

.PHONY: demo test test-fast deps-run deps-test deps-bench venv fleet fleet-down slurm slurm-down bench clean

# Debian packages, installed only when missing: ffmpeg for running, sshd for the test fleet.
deps-run:
	@missing=""; \
	command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing="$$missing ffmpeg"; \
	command -v $(PYTHON) >/dev/null || missing="$$missing python3"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(APT) update -q && $(APT) install -y -q $$missing; fi

deps-test: deps-run
	@[ -x /usr/sbin/sshd ] || { echo "installing: openssh-server"; $(APT) update -q && $(APT) install -y -q openssh-server; }
	@missing=""; \
	for p in slurmctld:/usr/sbin/slurmctld slurmd:/usr/sbin/slurmd slurm-client:/usr/bin/sbatch munge:/usr/sbin/munged; do \
		[ -x "$${p#*:}" ] || missing="$$missing $${p%%:*}"; \
	done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(APT) update -q && $(APT) install -y -q $$missing; fi

# ip and tc for the bench's shaped links (network namespaces, tbf).
deps-bench: deps-test
	@command -v tc >/dev/null && command -v ip >/dev/null || { echo "installing: iproute2"; $(APT) update -q && $(APT) install -y -q iproute2; }

$(BIN)/yaffmpegp: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("yaffmpegp needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/yaffmpegp

demo: deps-run venv
	bash examples/demo.sh

test: deps-test venv
	$(BIN)/pytest

test-fast: deps-test venv
	$(BIN)/pytest -m "not slow"

bench: deps-bench venv
	$(BIN)/python bench/sim.py
	$(BIN)/python bench/local.py
	$(BIN)/python bench/fleet.py
	bash bench/context.sh
	$(BIN)/python bench/seglen.py --seconds 60
	$(BIN)/python bench/peer.py
	$(BIN)/python bench/link.py

# A local three-host SSH fleet (real sshd, one unix user each) to try --hostlist; needs root.
FLEET_DIR ?= /tmp/yaffmpegp-fleet
fleet: deps-test venv
	$(BIN)/python -m tests.fleet up $(FLEET_DIR)

fleet-down: venv
	$(BIN)/python -m tests.fleet down $(FLEET_DIR)

# A local single-node Slurm cluster (munged, slurmctld, slurmd) to try --backend slurm; needs root.
SLURM_DIR ?= /tmp/yaffmpegp-slurm
slurm: deps-test venv
	$(BIN)/python -m tests.slurm_cluster up $(SLURM_DIR)

slurm-down: venv
	$(BIN)/python -m tests.slurm_cluster down $(SLURM_DIR)

clean:
	rm -rf $(VENV) demo bench/out *.egg-info
