"""Names of the backbones' output logits: the Kinetics-400 class list, in the order of the logits.

``kinetics400_labels.txt`` holds the 400 class names of Kinetics-400, one a line, in the order all
four families here output them: alphabetical, as DeepMind's ``kinetics-i3d`` ``data/label_map.txt``
(I3D), pytorchvideo's ``kinetics_classnames.json`` (SlowFast, R(2+1)D; its indices are this sorted
order) and the ``id2label`` of the Hugging Face ViViT Kinetics-400 config. Each backbone's
:class:`~mgmtfeat.backbones.WeightsConfig` names its list in ``class_names``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = ["LABEL_LISTS", "class_names", "label_list"]

#: Label-list name -> package data file.
LABEL_LISTS = {"kinetics400": "kinetics400_labels.txt"}


@lru_cache(maxsize=None)
def label_list(name: str) -> tuple[str, ...]:
    """The class names of label list ``name`` (e.g. ``"kinetics400"``), in logit order."""
    if name not in LABEL_LISTS:
        raise ValueError(f"unknown label list {name!r}; known: {', '.join(LABEL_LISTS)}")
    text = resources.files(__package__).joinpath(LABEL_LISTS[name]).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def class_names(net: str) -> tuple[str, ...] | None:
    """Names of the output logits of registered backbone ``net``, or None for an unknown net or no list."""
    from mgmtfeat.backbones.registry import get_weights_config

    try:
        config = get_weights_config(net)
    except ValueError:
        return None
    if config.class_names is None:
        return None
    names = label_list(config.class_names)
    if len(names) != config.num_classes:
        raise ValueError(f"label list {config.class_names!r} has {len(names)} names but net {net!r} "
                         f"outputs {config.num_classes} logits; fix the net's WeightsConfig.class_names")
    return names
