"""Trained models on real images: preparation to the trained geometry, windows, calibrated confidence, folder evaluation."""
