"""From a finished run to something another program loads: a self-contained bundle, the
Hugging Face layout, ONNX graphs, and an HTTP server. Imports torch: loaded only when used."""
