"""Object detection: the darknet→ONNX converter, model adapters (YOLOv3-tiny, YOLOv8/11),
letterbox and NMS, the onnxruntime session, and the camera↔detector serving pair.

See docs/detection.md. Importing this package is cheap; onnxruntime loads with `detector`.
"""
