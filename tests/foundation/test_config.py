"""Site config validation: every kind of error names its path and line; exit 2 from the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edged.config import CameraConfig, ConfigError, SiteConfig, load_model, validate_text

REPO = Path(__file__).resolve().parents[2]

CASES = [
    ("site: {id: x}\nbogus: 1\n", "bogus: unknown key (line 2)"),
    ("site: {}\n", "site.id: Field required (line 1)"),
    ("site: {id: x}\nmetrics: {listen: nowhere}\n", "metrics.listen: String should match pattern"),
    (
        "site: {id: x}\ncameras:\n  - id: a\n    source: a.mp4\n    fps: -3\n",
        "cameras[0].fps: Input should be greater than 0 (line 5)",
    ),
    (
        "site: {id: x}\ncameras:\n  - id: a\n    source: a.mp4\n    facade:\n      points: [[1, 2, 3, 4]]\n",
        "cameras[0].facade.points: List should have at least 4 items",
    ),
    ("site: {id: x}\ndetectors:\n  - type: nope\n", "detectors[0]: Input tag 'nope'"),
    ("site: {id: x}\ndetectors:\n  - type: yolov8\n    name: n\n", "detectors[0].model: Field required"),
    (
        "site: {id: x}\nrules:\n  - id: r\n    when_type: fever\n    then: [{action: fly}]\n",
        "rules[0].then[0]: Input tag 'fly'",
    ),
    ("site: {id: x\n", "not valid YAML"),
    ("- just a list\n", "(root): expected a mapping"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_error_names_the_field_path(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_text(text, SiteConfig)
    assert any(expected in line for line in info.value.lines), info.value.lines


def test_check_config_exits_2_with_one_line_per_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("site: {id: x}\nbogus: 1\ncameras:\n  - id: a\n    source: a.mp4\n    fps: 0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "edged", "check-config", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == ["bogus: unknown key (line 2)", "cameras[0].fps: Input should be greater than 0 (line 6)"]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edged", "check-config", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr


def test_camera_section_with_only_the_fixed_keys_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "camera.yaml"
    path.write_text(
        "id: facade-b3-east\nsource: rtsp://camera-host/stream1\nfps: 25\n"
        "facade:\n  points:\n    - [100, 900, 0.0, 0.0]\n    - [1800, 900, 30.0, 0.0]\n"
        "    - [1800, 100, 30.0, 60.0]\n    - [100, 100, 0.0, 60.0]\n"
        "  storey_height_m: 3.0\n  ground_z_m: 0.0\n  window_columns_m: [0.0, 3.6, 7.2]\n"
        "masks: [[[0, 0], [10, 0], [10, 10]]]\n"
        "thermal:\n  blackbody: {roi: [10, 10, 8, 8], set_point_c: 35.0}\n  threshold_c: 37.3\n"
        "  skin_offset_c: 1.2\n"
    )
    cam = load_model(path, CameraConfig)
    assert cam.id == "facade-b3-east" and cam.facade is not None and cam.thermal is not None


def test_example_site_config_is_valid() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edged", "check-config", str(REPO / "examples/site.yaml")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    cfg = validate_text((REPO / "examples/site.yaml").read_text(), SiteConfig)
    assert len(cfg.doors.doors) == 225
    assert len(cfg.gates.checkpoints) == 8
    assert any(c.facade for c in cfg.cameras) and any(c.thermal for c in cfg.cameras)


def test_schema_command_prints_json_schema() -> None:
    proc = subprocess.run([sys.executable, "-m", "edged", "config", "schema"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert '"SiteConfig"' in proc.stdout or '"title": "SiteConfig"' in proc.stdout


def test_cross_section_errors_name_the_field_and_line() -> None:
    text = "site: {id: x}\ncameras:\n  - id: a\n    source: a.mp4\n    detection: {detector: nope}\n"
    with pytest.raises(ConfigError) as info:
        validate_text(text, SiteConfig)
    assert info.value.lines == [
        "cameras[0].detection.detector: no detector named 'nope' in detectors (line 5)"
    ]


@pytest.mark.parametrize(
    ("camera", "expected"),
    [
        (
            "{id: t, source: rtsp://cam/1, thermal: {}}",
            "cameras[0].source: a thermal camera needs a .npz file, uvc:N, /dev/videoN or an ISAPI URL "
            "(isapi://user:pass@host/CHANNEL)",
        ),
        (
            "{id: t, source: isapi://u:p@cam/1, thermal: {telemetry: footer}}",
            "cameras[0].thermal.telemetry: only uvc sources read it; this camera's source is isapi",
        ),
        (
            "{id: t, source: uvc:0, thermal: {visible: {homography: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}}}",
            "cameras[0].thermal.visible: only isapi sources read it; this camera's source is uvc",
        ),
    ],
)
def test_thermal_settings_must_fit_the_source(camera: str, expected: str) -> None:
    text = f"site: {{id: x}}\ncameras:\n  - {camera}\n"
    with pytest.raises(ConfigError) as info:
        validate_text(text, SiteConfig)
    assert info.value.lines == [f"{expected} (line 3)"], info.value.lines
    ok = "{id: t, source: uvc:0, thermal: {telemetry: footer, gain: 0.01}}"
    assert validate_text(f"site: {{id: x}}\ncameras:\n  - {ok}\n", SiteConfig).cameras[0].thermal


def test_a_checkpoint_reads_plates_from_a_configured_video_camera() -> None:
    base = "site: {id: x}\ncameras:\n  - {id: p, source: rtsp://cam/1}\ngates:\n  checkpoints:\n"
    with pytest.raises(ConfigError) as info:
        validate_text(base + "    - {id: in, plate_camera: nope}\n", SiteConfig)
    assert info.value.lines == [
        "gates.checkpoints[0].plate_camera: no camera named 'nope' in cameras (line 6)"
    ]
    with pytest.raises(ConfigError, match="camera 'p' is disabled"):
        validate_text(
            base.replace("cam/1}", "cam/1, enabled: false}") + "    - {id: in, plate_camera: p}\n", SiteConfig
        )
    cfg = validate_text(base + "    - {id: in, plate_camera: p}\n", SiteConfig)
    assert cfg.cameras[0].detection.detector == "motion"  # so its frames reach the ring
    assert cfg.detectors == []  # motion needs no model


def test_a_detecting_camera_gets_the_default_detector() -> None:
    text = "site: {id: x}\ncameras:\n  - {id: a, source: a.mp4, lines: [{id: l, points: [[0, 0], [9, 9]]}]}\n"
    cfg = validate_text(text, SiteConfig)
    assert [(d.type, d.name) for d in cfg.detectors] == [("yolov3_tiny", "coco")]
    plain = validate_text("site: {id: x}\ncameras:\n  - {id: a, source: a.mp4}\n", SiteConfig)
    assert plain.detectors == []
