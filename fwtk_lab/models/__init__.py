"""Font encoders: each maps an image (or its blocks) to class logits.

Flat models (takes_blocks = False) get x of shape (B, C, H, W); sequence models (takes_blocks = True)
get the slicer's blocks, (B, T, C, H, w), for any T >= 1. Every model is built as
Model(num_classes, input_shape, **hyperparameters) and has first_layer_weights() for drawing.
"""
