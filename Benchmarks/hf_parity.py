#!/usr/bin/env python3
"""Parity of `grpo export` / `grpo import` / the BPE tokenizer with transformers and tokenizers.

  export  a tiny checkpoint (`grpo init-model --shape tiny`, or --checkpoint) through `grpo export`,
          loaded by AutoModelForCausalLM / AutoTokenizer: the prompts' ids, the logits at every
          position (`grpo logits`) and greedy generations (`grpo sample --greedy`) against transformers'
  import  a random Glm4MoeForCausalLM made by transformers at the tiny shape with grouped-query
          attention (8 query heads, 2 key/value heads) and its own byte-level BPE tokenizer, through
          `grpo import`: the same three checks; then the same model saved in bfloat16 shards
  mla     multi-head latent attention: a random DeepseekV3ForCausalLM made by transformers at the
          tiny-mla shape (kv_lora_rank 64, qk 16 + 16, v_head_dim 32; a q_lora_rank of 96, interleaved
          RoPE) through `grpo import`, then `grpo export` of that checkpoint loaded back by transformers
  bpe     three small byte-level BPE tokenizers (GPT-2, Llama-3 and DeepSeek-V3 pre-tokenizers)
          trained with `tokenizers`: ids of a corpus (unicode, emoji, whitespace runs, digits,
          special tokens) from `grpo tokenize` against tokenizers' encode, and decode(encode(s))

Prints one JSON object; exits 1 when a check fails (logits beyond --tolerance, a generation or an
encoding that differs). Run through Benchmarks/hf_parity.sh, which builds grpo and the venv.
"""
import argparse
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "PolicyTests",
                                "Fixtures", "huggingface"))
import make_fixtures as fx  # noqa: E402


def run(cmd, stdin=None):
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def lines(output):
    """The lines a command printed: split on newlines only (a JSON string may hold U+2028 or U+0085)."""
    return output[:-1].split("\n") if output.endswith("\n") else output.split("\n")


def prompts(count, max_tokens, seed, byte_level):
    """Random texts; with the byte tokenizer a text of n UTF-8 bytes is n tokens (+ bos)."""
    rng = random.Random(seed)
    pieces = ["the ", "cat ", "12+7=", "19", "\n", "  ", "é", "中文", "😀", "Hello, ", "world! ", "def f(x):",
              "\t", "answer: ", "0123456789", "Ünï", " ", "...", "👍🏽"]
    out = []
    for i in range(count):
        target = rng.randint(20, max_tokens - 1) if i else max_tokens - 1
        text = ""
        while True:
            piece = rng.choice(pieces)
            if len((text + piece).encode()) + 1 > target:
                break
            text += piece
        out.append(text)
    return out


def compare(grpo, checkpoint, model, texts, hf_ids, new_tokens):
    """Max |logit difference| over every position of every prompt, and identical greedy generations."""
    import torch
    worst, same, ids_equal = 0.0, 0, 0
    for text, ids in zip(texts, hf_ids):
        ours = json.loads(run([grpo, "logits", "--checkpoint", checkpoint, "--prompt", text]))
        ids_equal += ours["tokens"] == ids
        with torch.no_grad():
            theirs = model(torch.tensor([ours["tokens"]])).logits[0].double()
        worst = max(worst, (torch.tensor(ours["logits"], dtype=torch.float64) - theirs).abs().max().item())
        sample = json.loads(run([grpo, "sample", "--checkpoint", checkpoint, "--prompt", text, "--greedy",
                                 "--max-new-tokens", str(new_tokens), "--json"]).split("\n")[0])
        with torch.no_grad():
            g = model.generate(torch.tensor([ids]), max_new_tokens=new_tokens, do_sample=False)[0, len(ids):].tolist()
        same += sample["token_ids"] == g
    n = len(texts)
    return {"prompts": n, "longest_prompt_tokens": max(len(i) for i in hf_ids),
            "prompt_ids_identical": f"{ids_equal}/{n}", "max_abs_logit_diff": worst,
            "greedy_identical": f"{same}/{n}", "new_tokens": new_tokens,
            "ok": ids_equal == n and same == n}


def export_parity(a, work):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    checkpoint = a.checkpoint or os.path.join(work, "tiny")
    if not a.checkpoint:
        run([a.grpo, "init-model", "--shape", "tiny", "--seed", "1", "--out", checkpoint])
    exported = os.path.join(work, "tiny-hf")
    run([a.grpo, "export", "--model", checkpoint, "--out", exported])
    tok = AutoTokenizer.from_pretrained(exported)
    model = AutoModelForCausalLM.from_pretrained(exported, dtype=torch.float32).eval()
    texts = prompts(a.prompts, a.max_prompt_tokens, 1, True)
    result = compare(a.grpo, checkpoint, model, texts, [tok(t).input_ids for t in texts], a.new_tokens)
    # The byte tokenizer types special-token text as bytes; so must the exported one.
    result["special_text_as_bytes"] = tok("<|bos|>").input_ids[1:] == list(b"<|bos|>")
    result["ok"] = result["ok"] and result["special_text_as_bytes"] and result["max_abs_logit_diff"] <= a.tolerance
    return result


def import_parity(a, work):
    import torch
    from transformers import AutoModelForCausalLM
    tok = fx.train_tokenizer("llama3", vocab_size=1000)
    bos, eos, pad = (tok.token_to_id(t) for t in ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"])
    model = fx.random_glm4moe(tok.get_vocab_size(), bos, eos, pad, hidden=256, layers=4, heads=8, kv_heads=2,
                              head_dim=32, experts=8, intermediate=256, max_positions=512, seed=2, scale=2.0)
    source = os.path.join(work, "glm4moe-hf")
    model.save_pretrained(source)
    fx.fast_tokenizer(tok, "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", 512).save_pretrained(source)
    imported = os.path.join(work, "glm4moe-imported")
    run([a.grpo, "import", "--from", source, "--out", imported])
    texts = prompts(a.prompts, a.max_prompt_tokens, 2, False)
    ids = [[bos] + tok.encode(t, add_special_tokens=False).ids for t in texts]
    result = compare(a.grpo, imported, model, texts, ids, a.new_tokens)
    result["ok"] = result["ok"] and result["max_abs_logit_diff"] <= a.tolerance

    # The same weights in bfloat16 shards: read back as transformers widens them.
    shards = os.path.join(work, "glm4moe-hf-bf16")
    model.to(torch.bfloat16).save_pretrained(shards, max_shard_size="2MB")
    fx.fast_tokenizer(tok, "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", 512).save_pretrained(shards)
    run([a.grpo, "import", "--from", shards, "--out", imported + "-bf16"])
    widened = AutoModelForCausalLM.from_pretrained(shards, dtype=torch.float32).eval()
    bf16 = compare(a.grpo, imported + "-bf16", widened, texts[:2], ids[:2], 8)
    result["bfloat16_shards"] = {"files": len([f for f in os.listdir(shards) if f.endswith(".safetensors")]),
                                 "max_abs_logit_diff": bf16["max_abs_logit_diff"],
                                 "greedy_identical": bf16["greedy_identical"]}
    result["ok"] = result["ok"] and bf16["ok"] and bf16["max_abs_logit_diff"] <= a.tolerance
    return result


def mla_parity(a, work):
    from transformers import AutoModelForCausalLM
    model = fx.random_deepseek_v3(hidden=256, layers=4, heads=8, q_lora_rank=96, kv_lora_rank=64, nope=16, rope=16,
                                  value=32, experts=8, intermediate=256, max_positions=512, seed=3, scale=2.0)
    source = os.path.join(work, "deepseekv3-hf")
    model.save_pretrained(source)
    imported = os.path.join(work, "deepseekv3-imported")
    run([a.grpo, "import", "--from", source, "--out", imported])
    texts = prompts(a.prompts, a.max_prompt_tokens, 3, True)
    ids = [[257] + list(t.encode()) for t in texts]
    result = {"import": compare(a.grpo, imported, model, texts, ids, a.new_tokens)}
    exported = os.path.join(work, "deepseekv3-exported")
    run([a.grpo, "export", "--model", imported, "--out", exported])
    back = AutoModelForCausalLM.from_pretrained(exported).eval()
    result["export"] = compare(a.grpo, imported, back, texts, ids, a.new_tokens)
    result["ok"] = all(r["ok"] and r["max_abs_logit_diff"] <= a.tolerance for r in result.values())
    return result


def bpe_parity(a, work):
    texts = fx.corpus(extra_random=a.random_texts, seed=3)
    out = {"texts": len(texts), "ok": True}
    for style in ["gpt2", "llama3", "deepseek"]:
        tok = fx.train_tokenizer(style, vocab_size=2000)
        path = os.path.join(work, f"{style}.json")
        tok.save(path)
        stdin = "".join(json.dumps(t) + "\n" for t in texts)
        ours = [json.loads(l) for l in lines(run([a.grpo, "tokenize", "--tokenizer", path], stdin))]
        theirs = [tok.encode(t, add_special_tokens=False).ids for t in texts]
        ids_in = "".join(json.dumps(i) + "\n" for i in ours)
        decoded = [json.loads(l) for l in lines(run([a.grpo, "tokenize", "--tokenizer", path, "--decode"], ids_in))]
        expected = [tok.decode(i, skip_special_tokens=True) for i in theirs]
        # Round trips where tokenizers' own does (special tokens are dropped, NFC recomposes).
        plain = [i for i, t in enumerate(texts) if expected[i] == t]
        mismatch = [i for i in range(len(texts)) if ours[i] != theirs[i]]
        r = {"ids_identical": f"{len(texts) - len(mismatch)}/{len(texts)}",
             "decode_identical": f"{sum(d == e for d, e in zip(decoded, expected))}/{len(texts)}",
             "round_trip": f"{sum(decoded[i] == texts[i] for i in plain)}/{len(plain)}"}
        if mismatch:
            i = mismatch[0]
            r["first_mismatch"] = {"text": texts[i], "ours": ours[i], "tokenizers": theirs[i]}
        out[style] = r
        out["ok"] = out["ok"] and not mismatch and decoded == expected and all(decoded[i] == texts[i] for i in plain)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grpo", required=True)
    p.add_argument("--work", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "grpo-hf-parity"))
    p.add_argument("--checkpoint", help="export this checkpoint instead of a random tiny one")
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--max-prompt-tokens", type=int, default=200)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--random-texts", type=int, default=300)
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--only", default="export,import,mla,bpe")
    a = p.parse_args()
    import torch
    import tokenizers
    import transformers
    torch.set_num_threads(2)
    os.makedirs(a.work, exist_ok=True)
    report = {"torch": torch.__version__, "transformers": transformers.__version__,
              "tokenizers": tokenizers.__version__}
    for name, check in [("export", export_parity), ("import", import_parity), ("mla", mla_parity),
                        ("bpe", bpe_parity)]:
        if name in a.only.split(","):
            report[name] = check(a, a.work)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    sys.exit(0 if all(r["ok"] for r in report.values() if isinstance(r, dict)) else 1)


if __name__ == "__main__":
    main()
