# calbridge: `make run` starts the local stack, `make test` runs the whole suite.
# Both set up what they need first: the project virtualenv, the Cloud Tasks emulator's own
# virtualenv (it pins protobuf<5), and Debian's Chromium for the browser tests.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TASKS_VENV := .local/tasks-venv
UV_VERSION := 0.13.9
# checkov (static scan of infra/, tests/infra) gets its own virtualenv: its pins clash with ours.
CHECKOV_VENV := .local/checkov-venv

.PHONY: setup setup-stack run test bench lock clean chromium check-tools

# What the local stack needs; `setup` adds what only the tests need.
setup-stack: $(VENV)/.installed $(TASKS_VENV)/.installed check-tools
setup: setup-stack chromium $(CHECKOV_VENV)/.installed

$(VENV)/.installed: requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install -q --python $(PY) -r requirements-dev.lock
	touch $@

# Tool virtualenvs, each installed from its own lock (tools/locks/*.in -> *.lock, `make lock`).
$(TASKS_VENV)/.installed: tools/locks/tasks-emulator.lock $(VENV)/.installed
	$(VENV)/bin/uv venv -q --allow-existing --python $(PYTHON) $(TASKS_VENV)
	$(VENV)/bin/uv pip install -q --python $(TASKS_VENV)/bin/python -r tools/locks/tasks-emulator.lock
	touch $@

$(CHECKOV_VENV)/.installed: tools/locks/checkov.lock $(VENV)/.installed
	$(VENV)/bin/uv venv -q --allow-existing --python $(PYTHON) $(CHECKOV_VENV)
	$(VENV)/bin/uv pip install -q --python $(CHECKOV_VENV)/bin/python -r tools/locks/checkov.lock
	touch $@

# Playwright drives Debian's Chromium: `playwright install` cannot download browsers here.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

check-tools:
	@command -v gcloud >/dev/null 2>&1 || { echo "gcloud is missing: install the Google Cloud CLI and its Firestore emulator (gcloud components install cloud-firestore-emulator, or apt-get install google-cloud-cli-firestore-emulator)"; exit 1; }
	@command -v java >/dev/null 2>&1 || { echo "java is missing: the Firestore emulator needs Java 11+ (apt-get install openjdk-17-jre-headless)"; exit 1; }

run: setup-stack
	PYTHONPATH=. $(PY) -m local.stack

test: setup
	PYTHONPATH=. $(PY) -m pytest -q -p no:cacheprovider

bench: setup-stack
	PYTHONPATH=. $(PY) -m bench

# Recompile the locks after changing dependencies in pyproject.toml.
lock: $(VENV)/.installed
	$(VENV)/bin/uv pip compile -q pyproject.toml --python-version 3.11 -o requirements.lock
	$(VENV)/bin/uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements-dev.lock
	cd tools/locks && for tool in tasks-emulator checkov; do \
	  ../../$(VENV)/bin/uv pip compile -q $$tool.in --python-version 3.11 -o $$tool.lock; done

clean:
	rm -rf $(VENV) .local build
