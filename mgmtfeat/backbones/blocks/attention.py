"""Inference rewrites of ViViT's encoder layers: one QKV projection, attention through SDPA.

transformers' ``VivitAttention`` runs three (tokens x hidden) -> hidden projections, views each
as (N, heads, tokens, head_dim) through a transpose and calls the configured attention function.
:class:`FusedQKVAttention` holds the three weights stacked as one (3 hidden) x hidden linear (one
GEMM, one pass over the layer-normed tokens instead of three) and calls
``torch.nn.functional.scaled_dot_product_attention`` on views of its output, in the layout
``layout`` names: ``"strided"`` (views, as transformers passes them) or ``"contiguous"`` (each of
q, k, v copied to (N, heads, tokens, head_dim) rows first).

The arithmetic is the network's: the same products in the same order inside each GEMM, so
float32 results agree with the network as written up to rounding (GEMM blocking differs with the
matrix shape); ``benchmarks/bench_vivit_speed.py`` measures what each rewrite gives.
"""

from __future__ import annotations

__all__ = ["fuse_qkv", "LAYOUTS"]

#: How q, k and v reach ``scaled_dot_product_attention``.
LAYOUTS = ("strided", "contiguous")


def _module():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class FusedQKVAttention(nn.Module):
        """Drop-in for ``VivitAttention`` at inference: ``forward(hidden (N, L, D)) -> ((N, L, D), None)``."""

        def __init__(self, attention, layout: str = "strided"):
            super().__init__()
            if layout not in LAYOUTS:
                raise ValueError(f"layout={layout!r} is not one of {LAYOUTS}")
            q, k, v = attention.q_proj, attention.k_proj, attention.v_proj
            self.heads = attention.num_attention_heads
            self.head_dim = attention.head_dim
            self.scaling = attention.scaling
            self.layout = layout
            self.qkv = nn.Linear(q.in_features, 3 * q.out_features, bias=q.bias is not None)
            self.qkv = self.qkv.to(device=q.weight.device, dtype=q.weight.dtype)
            with torch.no_grad():
                self.qkv.weight.copy_(torch.cat([q.weight, k.weight, v.weight]))
                if q.bias is not None:
                    self.qkv.bias.copy_(torch.cat([q.bias, k.bias, v.bias]))
            self.o_proj = attention.o_proj
            # saved (save_pretrained, state_dict) as the network as written: q_proj, k_proj, v_proj
            self.register_state_dict_post_hook(_split_qkv)

        def forward(self, hidden_states, attention_mask=None, **kwargs):
            n, length, _ = hidden_states.shape
            # (N, L, 3, H, E) -> (3, N, H, L, E): views, no copy
            qkv = self.qkv(hidden_states).view(n, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            if self.layout == "contiguous":
                q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attention_mask, scale=self.scaling)
            return self.o_proj(out.transpose(1, 2).reshape(n, length, -1)), None

    return FusedQKVAttention


def _split_qkv(module, state, prefix, local_metadata) -> None:
    """State-dict hook: ``qkv.weight`` / ``qkv.bias`` back into transformers' three projections (copies)."""
    for kind in ("weight", "bias"):
        stacked = state.pop(f"{prefix}qkv.{kind}", None)
        if stacked is not None:
            for name, part in zip(("q_proj", "k_proj", "v_proj"), stacked.chunk(3)):
                state[f"{prefix}{name}.{kind}"] = part.clone()


def fuse_qkv(hf_model, layout: str = "strided") -> int:
    """Replace every ``VivitAttention`` of ``hf_model`` by a :class:`FusedQKVAttention`; returns how many.

    For inference only (no dropout, no attention weights returned); the replaced modules' q/k/v
    weights are dropped, and the state dict still names them (``q_proj.weight``, ...), so a
    fused model saves as the network as written. Loading a state dict into it is not supported.
    """
    cls = _module()
    count = 0
    for parent in list(hf_model.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__ == "VivitAttention":
                setattr(parent, name, cls(child, layout))
                count += 1
    return count
