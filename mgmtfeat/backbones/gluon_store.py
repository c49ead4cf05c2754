"""GluonCV's model store: the weights configs of its nets and strict loading of its checkpoints.

Weights come from GluonCV's model store (``{name}-{sha1[:8]}.pth``, sha1 checked, as
``gluoncv/torch/model_zoo/model_store.py`` lists them), a local GluonCV file, or ``"random"``.
A file of another net raises :class:`WeightsError` naming the file, the first mismatching keys
and the net the file looks like.
"""

from __future__ import annotations

from mgmtfeat.backbones.weights import WeightsConfig, WeightsError

__all__ = ["MODEL_STORE", "gluon_config", "looks_like", "load_gluon_weights"]

#: GluonCV's model store (``gluoncv/torch/model_zoo/model_store.py``).
MODEL_STORE = "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/torch/models/"


def gluon_config(name: str, sha1: str, classifier: str = "fc") -> WeightsConfig:
    """The weights config of GluonCV model ``name`` (its model-store file and sha1).

    Uniform sampling takes 32 frames (the ``CLIP_LEN`` of GluonCV's Kinetics-400 configs) of the
    whole box at 224 pixels (no crop, as mgmtfeat's other nets); values to [0, 1] and ImageNet
    mean and std, as GluonCV's transforms. ``sampling="paper"`` uses the authors' preset.
    """
    return WeightsConfig(
        weights_id=f"gluoncv {name}", source="url", location=f"{MODEL_STORE}{name}-{sha1[:8]}.pth",
        sha256=None,  # GluonCV publishes sha1 only; the file's sha256 goes to provenance
        sha1=sha1, num_frames=32, size=224, resize_to=224, rescale=1 / 255, offset=0.0,
        mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), layout="NCTHW", classifier=classifier,
        paper="gluoncv")


def looks_like(state) -> str:
    """What network a state dict looks like, from its keys (for error messages)."""
    keys = set(state) if hasattr(state, "keys") else set()

    def blocks(prefix):
        return len({k[len(prefix):].split(".")[0] for k in keys if k.startswith(prefix)})

    def depth(counts):
        counts = tuple(counts)
        return {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}.get(counts, f"? (blocks {counts})")

    if "fast_conv1.weight" in keys:
        return f"GluonCV SlowFast ResNet-{depth(blocks(f'slow_res{i}.') for i in range(2, 6))}"
    if "conv1_middle.weight" in keys:
        return f"GluonCV R(2+1)D v2 ResNet-{depth(blocks(f'layer{i}.') for i in range(1, 5))}"
    if "first_stage.0.weight" in keys:
        nl = len({k.split(".nonlocal_block")[0] for k in keys if ".nonlocal_block." in k})
        net = f"GluonCV I3D ResNet-{depth(blocks(f'res_layers.{i}.') for i in range(4))}"
        return net + (f" with {nl} non-local blocks" if nl else " without non-local blocks")
    if "model_state" in keys or any(k.startswith("blocks.") for k in keys):
        return "a pytorchvideo checkpoint (mgmtfeat's slowfast / r2plus1d)"
    if any("Conv3d_1a_7x7" in k for k in keys):
        return "DeepMind's Inception-I3D (mgmtfeat's i3d)"
    return "no GluonCV action-recognition net"


def load_gluon_weights(model, config: WeightsConfig, weights, net: str) -> dict:
    """Load GluonCV weights into ``model`` (model store, local file or random); the builder's info.

    Raises
    ------
    WeightsError
        The file is missing, has another sha1 (download), is not a weights-only torch file, or
        its keys or shapes differ from the net's: the message names the file, the first
        mismatching keys and the net the file looks like.
    """
    from mgmtfeat.backbones.weight_sources import resolve_weights
    from mgmtfeat.backbones.weights import cache_dir, check_state_dict, load_torch_checkpoint

    name = config.location.rsplit("/", 1)[-1]
    how_to = (f"download {config.location} on a machine with network access and pass --weights PATH "
              f"(weights=PATH in Python), or copy it to {cache_dir() / name}")
    found = resolve_weights(config, weights, what=f"{net} weights file", how_to=how_to)
    if found.random:
        return found.info()
    state = load_torch_checkpoint(found.path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint of GluonCV's own scripts
    try:
        check_state_dict(model, state, str(found.path))
    except WeightsError as exc:
        raise WeightsError(f"{exc}. The file looks like {looks_like(state)}, not {net} "
                           f"({config.weights_id})") from exc
    # assign: the file's tensors become the parameters (no copy; the model may be built on the meta device)
    model.load_state_dict(dict(state), strict=True, assign=True)
    weights_id = config.weights_id if found.kind != "path" else f"{config.weights_id} (local {found.path.name})"
    return {"weights_id": weights_id, "sha256": found.sha256, "random": False}
