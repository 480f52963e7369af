"""The class name of `dataset.other_fonts` (fonts a model should not name), apart from the dataset builder
so that inference reads it without importing the renderer."""

OTHER = "other"
