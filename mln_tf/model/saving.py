"""Loading saved ``.keras`` pose models: our custom layer and loss registered with Keras first."""

from __future__ import annotations

from typing import Any

from mln_tf.model.layers import _input_check_layer


def register_serializables() -> None:
    """Register our custom layer and loss with Keras so that saved ``.keras`` models load."""
    import keras

    from mln_tf import losses  # noqa: F401  registers the loss of compiled .keras files

    _input_check_layer(keras)


def load_keras_file(path) -> Any:
    """A saved ``.keras`` model (our layers registered, not compiled); a one-line ValueError if it cannot load."""
    import zipfile

    import keras

    register_serializables()
    try:
        return keras.models.load_model(path, compile=False)
    except (TypeError, ValueError, OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"cannot load Keras model {path}: {str(exc).splitlines()[0]}") from exc
