"""COCO class names, spelled one way for every model.

Darknet's coco.names says "motorbike", "aeroplane", "tvmonitor"…; Ultralytics exports say
"motorcycle", "airplane", "tv". Zone configs name classes, so both models must agree:
we use the Ultralytics spelling and map darknet's on conversion.
"""

from __future__ import annotations

COCO80: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

_DARKNET_SPELLING = {
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
}


def canonical(names: list[str]) -> list[str]:
    """Darknet COCO spellings → the Ultralytics ones; other names unchanged."""
    return [_DARKNET_SPELLING.get(n, n) for n in names]


def default_names(classes: int) -> list[str]:
    return list(COCO80) if classes == len(COCO80) else [str(i) for i in range(classes)]
