"""The :class:`Backbone`: a built network with its preprocessing, from clips or slices to logits.

Built by :func:`~mgmtfeat.backbones.create_backbone`; it records what produced the features
(:attr:`Backbone.provenance`) and runs the network in its dtype and memory layout.
"""

from __future__ import annotations

import numpy as np

from mgmtfeat.backbones import dtype_choice
from mgmtfeat.backbones.weights import WeightsConfig

__all__ = ["Backbone"]


class Backbone:
    """A network with its preprocessing: clips (video) or slices (image) into logits or embeddings.

    Built by :func:`create_backbone`; not meant to be constructed directly.
    """

    def __init__(self, name, model, config: WeightsConfig, info: dict, device="cpu", dtype="float32",
                 channels_last: bool = False, fuse: bool = False):
        import torch

        from mgmtfeat.backbones.blocks.fuse import fuse_for_inference

        self.name = name
        self.config = config
        self.info = dict(info)
        self.device = torch.device(device)
        self.dtype = dtype
        # int8 quantises the linears of a float32 network (mgmtfeat.backbones.quantize)
        self._torch_dtype = torch.float32 if dtype == "int8" else getattr(torch, dtype)
        model = model.eval()
        # folded in float32 (float64 inside), before any cast to bfloat16; nets without batch norms: no-op
        self.fused = bool(fuse) and fuse_for_inference(model) > 0
        self.model = model.to(device=self.device, dtype=self._torch_dtype)
        if hasattr(self.model, "prepare_dtype"):  # per-network mixed-precision exceptions
            self.model.prepare_dtype(self._torch_dtype)
        for param in self.model.parameters():
            param.requires_grad_(False)
        if dtype == "int8":
            from mgmtfeat.backbones.quantize import quantize_linears

            quantize_linears(self.model)
        # channels-last convolution weights (rank 5 for video nets, 4 for image nets) and input
        self.channels_last = bool(channels_last)
        self._rank = 5 if config.kind == "video" else 4
        self._memory_format = {5: torch.channels_last_3d, 4: torch.channels_last}[self._rank]
        if self.channels_last:
            for param in self.model.parameters():
                if param.ndim == self._rank:
                    param.data = param.data.contiguous(memory_format=self._memory_format)

    @property
    def provenance(self) -> dict:
        """What produced the features: net, weights id and sha256(s), random or not, input."""
        import torch

        c = self.config
        # a converted checkpoint (I3D) also records the digest of the file actually loaded
        converted = ({"weights_converted_sha256": self.info["converted_sha256"]}
                     if "converted_sha256" in self.info else {})
        return {
            "net": self.name,
            "weights_id": self.info["weights_id"],
            "weights_sha256": self.info.get("sha256"),
            **converted,
            "random_weights": bool(self.info["random"]),
            "random_seed": self.info.get("random_seed"),
            "num_frames": c.num_frames,
            "size": c.size,
            "resize_to": c.resize_to,
            "sampling": c.sampling,
            "normalisation": {"rescale": c.rescale, "offset": c.offset, "mean": list(c.mean),
                              "std": list(c.std)},
            "layout": c.layout,
            "dtype": self.dtype,
            **dtype_choice.provenance_fields(self.name, self.dtype, self.device),  # auto's measurement, int8's method
            "torch": torch.__version__,
        }

    def frame_indices(self, n_frames: int) -> list[int]:
        """The clip frames this backbone takes from a clip of ``n_frames`` frames (for provenance).

        Raises ValueError for a clip the sampling cannot take (``"paper"`` needs 150-frame clips).
        """
        from mgmtfeat.backbones.sampling import frame_indices

        return [int(i) for i in frame_indices(int(n_frames), self.config)] if self.kind == "video" else [0]

    @property
    def kind(self) -> str:
        """``"video"`` (takes clips) or ``"image"`` (takes slices)."""
        return self.config.kind

    def preprocess(self, clips: np.ndarray):
        """Network input tensor for ``clips`` (video) or slices (image).

        See :func:`preprocess.preprocess` and :func:`preprocess.preprocess_slices`.
        """
        from mgmtfeat.backbones.preprocess import preprocess, preprocess_slices

        prep = preprocess if self.kind == "video" else preprocess_slices
        return prep(clips, self.config, device=self.device, dtype=self._torch_dtype)

    def forward(self, x, return_embedding: bool = False):
        """Bare forward pass of a preprocessed tensor under ``torch.inference_mode``.

        Returns a float32 tensor: logits ``(N, num_classes)`` or the embedding ``(N, D)``.
        """
        import torch

        if self.channels_last and x.ndim == self._rank:
            x = x.contiguous(memory_format=self._memory_format)
        with torch.inference_mode():
            out = self.model.forward_features(x) if return_embedding else self.model(x)
        return out.float()

    def extract(self, clips: np.ndarray, return_embedding: bool = False, batch: bool | None = None) -> np.ndarray:
        """Logits (or the pre-logit embedding) of each clip, or of each slice for an image network.

        Parameters
        ----------
        clips : np.ndarray of uint8, shape (n_clips, n_frames, H, W) or (n_slices, H, W)
            Video network: grey clips (n_frames = 150, H = W = 128 normally; any frame count is
            sampled to the net's). Image network: grey slices.
        return_embedding : bool
            Return the pre-logit embedding ``(n, D)`` instead of the logits.
        batch : bool or None
            Run all clips as one batch (True) or each clip alone (False). None (the default) chooses
            as :meth:`runs_as_one_batch` says.

        Returns
        -------
        np.ndarray of float32, shape (n, num_classes)
            Pre-softmax logits (400 Kinetics-400 classes; 1000 ImageNet classes for
            ``resnet50``). When a batch runs out of memory it is retried one by one.
        """
        from mgmtfeat.backbones.preprocess import check_clips, check_slices

        (check_clips if self.kind == "video" else check_slices)(clips)
        if not (self.runs_as_one_batch() if batch is None else batch):
            return self._one_by_one(clips, return_embedding)
        try:
            return self._run(clips, return_embedding)
        except (RuntimeError, MemoryError) as exc:
            if len(clips) == 1 or not _is_oom(exc):
                raise
            _free_memory(self.device)
            return self._one_by_one(clips, return_embedding)

    def runs_as_one_batch(self) -> bool:
        """Whether :meth:`extract` runs a case's clips as one batch by default.

        A video network on the CPU runs each clip alone: on the 2-core reference machine, idle, one
        clip at a time was as fast or faster (ViViT 0.77 to 0.91 times the batch's time, I3D 0.85 to
        0.99; ``benchmarks/bench_predict_mri.py --batching``), and a clip's features then do not
        depend on which clips share its call (a batch moved ViViT's float32 logits by 1e-6). In int8,
        on any device, each clip runs alone: dynamic quantisation scales each activation by the
        range of the whole call, so in a batch a clip's logits moved by up to 1 (of 1.7) with its
        batch-mates, and the recorded int8 gate was measured on single clips. Image networks (many
        small slices) and video networks on a GPU run as one batch.
        """
        if self.dtype == "int8":
            return False
        return self.kind != "video" or self.device.type != "cpu"

    def _one_by_one(self, clips, return_embedding):
        return np.concatenate([self._run(clips[i:i + 1], return_embedding) for i in range(len(clips))])

    def _run(self, clips, return_embedding):
        out = self.forward(self.preprocess(clips), return_embedding=return_embedding)
        return out.cpu().numpy().astype(np.float32, copy=False)

    def __repr__(self):
        kind = "random weights" if self.info["random"] else self.info["weights_id"]
        return f"Backbone({self.name!r}, {kind}, {self.dtype}, {self.device})"


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text


def _free_memory(device) -> None:
    import gc

    import torch

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
