"""The model: bundle, encoding, ONNX Runtime sessions, labels, precisions, the shipped files."""
