"""The data layer: corpus + fonts -> rendered images in a verified cache -> splits -> batches. `python -m fwtk_lab.data` builds it."""
