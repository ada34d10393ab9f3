# pagerstatus: `make run` starts a local demo (or the real thing with keys in the
# environment); `make test` installs what it needs and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: install run test soak bench checkov deploy clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# checkov has its own venv: its pins would fight the function's requirements.
.venv-checkov/.make-stamp: scripts/checkov.sh
	scripts/checkov.sh --install
	touch $@

checkov: .venv-checkov/.make-stamp
	scripts/checkov.sh

run: install
	$(BIN)/python -m sandbox.launcher --port $(PORT)

# The Firestore emulator runs for the whole suite, in its own process group.
test: install .venv-checkov/.make-stamp
	scripts/with-firestore-emulator.sh $(BIN)/python -m pytest

# The soak of `make test` for longer: SOAK_SECONDS of random changes; SOAK_SEED replays a failed run's.
SOAK_SECONDS ?= 600
soak: install
	PAGERSTATUS_SOAK_SECONDS=$(SOAK_SECONDS) PAGERSTATUS_SOAK_SEED=$(SOAK_SEED) \
		scripts/with-firestore-emulator.sh $(BIN)/python -m pytest tests/test_soak.py -s -o timeout=0

# The benchmark against the sandbox and the Firestore emulator; writes docs/PERFORMANCE.md.
bench: install
	scripts/with-firestore-emulator.sh $(BIN)/python -m bench.performance

# Provisions everything on Google Cloud and PagerDuty (terraform/README.md: first deploy).
deploy:
	terraform -chdir=terraform init -input=false
	terraform -chdir=terraform apply

clean:
	rm -rf $(VENV) .venv-checkov
