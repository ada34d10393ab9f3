# pagerstatus: `make run` starts a local demo (or the real thing with keys in the
# environment); `make test` installs what it needs and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
SANDBOX_PORT ?= 8900

.PHONY: install run test soak bench checkov reference deploy clean

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

# PORT and SANDBOX_PORT: the function's and the sandbox's ports (0: any free one, the guide names it).
run: install
	$(BIN)/python -m sandbox.launcher --port $(PORT) --sandbox-port $(SANDBOX_PORT)

# The official specs and webhook examples the contract tests validate against, into .reference/
# (pinned upstream commits, checked hashes); only for a checkout with no ../shared/reference beside it.
reference:
	$(PYTHON) -m tests.harness.fetch_reference

# The Firestore emulator runs for the whole suite, in its own process group. Three workers on
# the 2-core machines: most of the suite waits (function processes, timeouts, latency faults),
# so one worker more than cores keeps them busy (measured: 1 worker ~200 s, 2 ~133 s, 3 ~100 s, 4 ~105 s).
test: install .venv-checkov/.make-stamp
	$(BIN)/ruff check .
	scripts/with-firestore-emulator.sh $(BIN)/python -m pytest -n 3

# The soak of `make test` for longer: SOAK_SECONDS of random changes; SOAK_SEED replays a failed run's.
SOAK_SECONDS ?= 600
soak: install
	PAGERSTATUS_SOAK_SECONDS=$(SOAK_SECONDS) PAGERSTATUS_SOAK_SEED=$(SOAK_SEED) \
		scripts/with-firestore-emulator.sh $(BIN)/python -m pytest tests/test_soak.py -s -o timeout=0

# The benchmark against the sandbox and the Firestore emulator; writes docs/PERFORMANCE.md.
bench: install
	scripts/with-firestore-emulator.sh $(BIN)/python -m bench.performance

# Provisions everything on Google Cloud and PagerDuty (terraform/README.md: first deploy). The state
# lives in a bucket: TF_STATE_BUCKET=<bucket> (and TF_STATE_PREFIX), or the gcs backend settings in
# TF_BACKEND_CONFIG (default terraform/backend.hcl, git-ignored), passed to `terraform init`.
TF_STATE_BUCKET ?=
TF_STATE_PREFIX ?= pagerstatus
TF_BACKEND_CONFIG ?= terraform/backend.hcl
BACKEND_ARGS = $(if $(TF_STATE_BUCKET),-backend-config=bucket=$(TF_STATE_BUCKET) -backend-config=prefix=$(TF_STATE_PREFIX),-backend-config=$(abspath $(TF_BACKEND_CONFIG)))
deploy:
	@if [ -z "$(TF_STATE_BUCKET)" ] && [ ! -f "$(TF_BACKEND_CONFIG)" ]; then \
		echo "make deploy: where is the Terraform state? Set TF_STATE_BUCKET=<bucket>, or write $(TF_BACKEND_CONFIG) (terraform/README.md, First deploy, step 4)" >&2; exit 2; fi
	terraform -chdir=terraform init -input=false $(BACKEND_ARGS)
	terraform -chdir=terraform apply

clean:
	rm -rf $(VENV) .venv-checkov
