"""Check that export_gguf writes adapters that llama.cpp applies like peft does.

Builds a peft LoRA on the attention q/k projections of SmolLM2 with seeded
random lora_A *and* lora_B (a fresh adapter has lora_B = 0 and would prove
nothing), exports it, then compares the next-token logits on a few chat
prompts:

    delta_torch = logits(peft, adapter on) - logits(peft, adapter off)
    delta_llama = logits(llama.cpp, Q4_1 + adapter) - logits(llama.cpp, Q4_1)

The two deltas must correlate strongly (> 0.8; llama.cpp's Q4_1/Q8 arithmetic
adds noise, so they never match exactly).  As a control the same adapter is
also exported without the rotary row permutation of lora_B, which must
correlate far worse; that shows the permutation is needed and right.  q and k
are the only projections whose layout differs between the two worlds; for the
others llama.cpp itself rejects a lora_a/lora_b of the wrong shape.  With a
0.05 scale the change is large enough to stand out from quantization noise
(at 0.01 it does not).

The torch side needs torch, transformers, peft and gguf; the llama.cpp side
runs in a subprocess with ``--llama-python`` (default: this interpreter), so
the two may live in different virtual environments.

    python example_suite/finetune/verify_export.py --llama-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import export_gguf  # noqa: E402
import train  # noqa: E402

TICKETS = ["I was charged twice this month.", "The app crashes on start.", "hi"]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


LLAMA_SIDE = r"""
import json, sys
import numpy as np
from llama_cpp import Llama
job = json.load(open(sys.argv[1]))
out = {}
for key, lora in job["adapters"].items():
    kwargs = {"lora_path": lora} if lora else {}
    llm = Llama(model_path=job["base"], n_ctx=512, seed=0, verbose=False, n_threads=1, logits_all=True, **kwargs)
    rows = []
    for ids in job["prompts"]:
        llm.reset()
        llm.eval(ids)
        rows.append(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32))
    np.save(job["out"] + "." + key + ".npy", np.stack(rows))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-python", default=sys.executable, help="python interpreter that has a working llama_cpp")
    args = ap.parse_args(argv)

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    torch.set_num_threads(1)
    folder = train.base_model_dir()
    base_path = str(folder / train.BASE_GGUF_NAME)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=train.BASE_GGUF_NAME)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=train.BASE_GGUF_NAME, dtype=torch.float32)
    model.config.quantization_config = None
    rank, alpha = 8, 16.0
    model = get_peft_model(
        model,
        LoraConfig(
            r=rank, lora_alpha=alpha, target_modules=["q_proj", "k_proj"], lora_dropout=0.0, task_type="CAUSAL_LM"
        ),
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn_like(p) * 0.05)
    model.eval()
    system = train.read_system_prompt(train.SUITE / "prompts" / "finetuned_system.md")
    prompts = [
        tok(
            tok.apply_chat_template(train.chat_messages(system, t), tokenize=False, add_generation_prompt=True),
            add_special_tokens=False,
        )["input_ids"]
        for t in TICKETS
    ]

    torch_delta = []
    with torch.no_grad():
        for ids in prompts:
            x = torch.tensor([ids])
            on = model(input_ids=x).logits[0, -1].numpy()
            with model.disable_adapter():
                off = model(input_ids=x).logits[0, -1].numpy()
            torch_delta.append(on - off)

    cfg = model.base_model.model.config
    tensors = export_gguf.lora_tensors(model, cfg.num_attention_heads, cfg.num_key_value_heads)
    unpermuted = {}
    for key, (a, b) in tensors.items():
        if key.endswith(("attn_q.weight", "attn_k.weight")):
            heads = cfg.num_attention_heads if "attn_q" in key else cfg.num_key_value_heads
            # undo the permutation: GGUF row 2*i+half -> HF row half*d/2+i
            d = b.shape[0] // heads
            b = b.reshape(heads, d // 2, 2, -1).transpose(0, 2, 1, 3).reshape(b.shape)
        unpermuted[key] = (a, b)

    labels = {"exported": tensors, "control": unpermuted}
    with tempfile.TemporaryDirectory() as tmp:
        adapters = {"base": None}
        for key, tens in labels.items():
            adapters[key] = str(export_gguf.write_lora_gguf(Path(tmp) / f"{key}.gguf", tens, alpha))
        job = Path(tmp) / "job.json"
        job.write_text(
            json.dumps({"base": base_path, "prompts": prompts, "adapters": adapters, "out": str(Path(tmp) / "logits")})
        )
        subprocess.run([args.llama_python, "-c", LLAMA_SIDE, str(job)], check=True)
        logits = {key: np.load(Path(tmp) / f"logits.{key}.npy") for key in adapters}

    results = {}
    for key in labels:
        corr = [correlation(t, w - b) for t, w, b in zip(torch_delta, logits[key], logits["base"])]
        results[key] = min(corr)
        name = "exported" if key == "exported" else "control without q/k permutation"
        print(f"{name}: delta-logit correlation per prompt {', '.join(f'{c:.3f}' for c in corr)}")
    ok = results["exported"] > 0.8 and results["exported"] > results["control"] + 0.3
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
