"""The run around the model: identity, resume, checkpoint files, preemption, provenance, sweeps, the Trainer."""
