"""Write a peft LoRA adapter as a llama.cpp LoRA GGUF file.

llama.cpp loads an adapter file when it has
  * ``general.architecture`` equal to the base model's (``llama`` for SmolLM2),
  * ``general.type = "adapter"``, ``adapter.type = "lora"``,
  * ``adapter.lora.alpha`` (the runtime scale is alpha / rank),
  * for every adapted base tensor ``X.weight`` two tensors ``X.weight.lora_a``
    and ``X.weight.lora_b``.

Shapes: peft stores ``lora_A`` as (rank, in_features) and ``lora_B`` as
(out_features, rank).  GGUF lists dimensions fastest-first, so writing those
numpy arrays unchanged gives ``lora_a.ne = [in, rank]`` and
``lora_b.ne = [rank, out]``, which is what llama.cpp checks against the base
tensor (``ne = [in, out]``).

Rotary layout: Hugging Face llama checkpoints keep the two rotary halves of
each attention head apart, while llama.cpp's GGUF interleaves them; the GGUF
converter permutes the rows of ``q_proj`` (with the number of query heads)
and ``k_proj`` (with the number of key/value heads).  transformers undoes that
permutation when it loads a GGUF file, so the adapter's ``lora_B`` for q and k
(whose rows are output features) must get the same permutation here, or the
fine-tune would be applied to scrambled dimensions.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# Hugging Face module name -> llama.cpp GGUF tensor name (inside blk.N.)
HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_LAYER_RE = re.compile(r"layers\.(\d+)\.(self_attn\.\w+_proj|mlp\.\w+_proj)$")


def hf_rows_to_gguf(rows: np.ndarray, n_heads: int) -> np.ndarray:
    """Reorder output rows from the HF rotary layout to llama.cpp's.

    Within a head of size d, HF row ``half * d/2 + i`` becomes GGUF row
    ``2 * i + half`` (half = 0 or 1).
    """
    out_features = rows.shape[0]
    head_dim = out_features // n_heads
    return (
        rows.reshape(n_heads, 2, head_dim // 2, *rows.shape[1:])
        .transpose(0, 2, 1, *range(3, rows.ndim + 2))
        .reshape(rows.shape)
    )


def lora_tensors(
    model, n_head: int, n_head_kv: int, adapter_name: str = "default"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{gguf base tensor name: (lora_a, lora_b)} as float32 numpy arrays from a peft model."""
    tensors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, module in model.named_modules():
        if not hasattr(module, "lora_A") or adapter_name not in getattr(module, "lora_A", {}):
            continue
        match = _LAYER_RE.search(name)
        if not match:
            raise ValueError(f"cannot map LoRA module {name!r} to a llama.cpp tensor name")
        layer, proj = int(match.group(1)), match.group(2)
        a = module.lora_A[adapter_name].weight.detach().float().cpu().numpy()
        b = module.lora_B[adapter_name].weight.detach().float().cpu().numpy()
        if proj == "self_attn.q_proj":
            b = hf_rows_to_gguf(b, n_head)
        elif proj == "self_attn.k_proj":
            b = hf_rows_to_gguf(b, n_head_kv)
        tensors[f"blk.{layer}.{HF_TO_GGUF[proj]}.weight"] = (a, b)
    if not tensors:
        raise ValueError("the model has no LoRA layers")
    return tensors


def write_lora_gguf(
    path: str | Path,
    tensors: dict[str, tuple[np.ndarray, np.ndarray]],
    alpha: float,
    arch: str = "llama",
    name: str | None = None,
) -> Path:
    """Write {base tensor name: (lora_a, lora_b)} as an f16 llama.cpp LoRA adapter."""
    import gguf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch=arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    if name:
        writer.add_name(name)
    for base in sorted(tensors, key=_tensor_sort_key):
        a, b = tensors[base]
        writer.add_tensor(f"{base}.lora_a", np.ascontiguousarray(a, dtype=np.float16))
        writer.add_tensor(f"{base}.lora_b", np.ascontiguousarray(b, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _tensor_sort_key(name: str):
    parts = name.split(".")
    return (int(parts[1]), parts[2]) if parts[0] == "blk" else (-1, name)


def export_peft_model(
    model, path: str | Path, alpha: float, n_head: int, n_head_kv: int, name: str | None = None
) -> Path:
    """Export the LoRA layers of a peft-wrapped llama model to ``path``."""
    return write_lora_gguf(path, lora_tensors(model, n_head, n_head_kv), alpha, name=name)
