"""Export of trained models: SavedModel for serving, TFLite for phones, and their checks."""
