#!/usr/bin/env python3
"""Fixtures for the Hugging Face export, import and tokenizer tests, made with the
real libraries (torch, transformers, tokenizers). The Swift tests read them and
need none of these libraries. Benchmarks/hf_parity.py reuses the builders here
at larger sizes.

  bpe/gpt2.json, bpe/llama3.json, bpe/deepseek.json
                     small byte-level BPE tokenizers trained here, one per pre-tokenizer style
  bpe/cases.json     {"texts": [...], "tokenizers": {name: {"ids": [[...]], "decoded": [...]}}}:
                     ids from encode(text, add_special_tokens=False), text from decode(ids,
                     skip_special_tokens=True)
  glm4moe-gqa/       a random Glm4MoeForCausalLM made by transformers (8 query heads on 2
                     key/value heads), saved in bfloat16 in several shards, with the llama3-style
                     tokenizer
  glm4moe-gqa.json   its logits (float32 arithmetic on the bfloat16 weights) on a few token
                     sequences, and greedy continuations
  export-toy/        `grpo export` of ../toy-model, as transformers loaded it
  export-toy.json    transformers' logits of export-toy on a few token sequences
  deepseekv3-mla/    a random DeepseekV3ForCausalLM made by transformers: multi-head latent attention
                     through the query bottleneck (q_lora_rank), interleaved RoPE, the byte vocabulary
  deepseekv3-mla.json its logits on a few token sequences, and greedy continuations
  export-mla/        `grpo import` of deepseekv3-mla then `grpo export`, as transformers loaded it
  export-mla.json    transformers' logits of export-mla on the same sequences
  hc.json            DeepseekV4HyperConnection and DeepseekV4HyperHead (mHC) with small random weights
                     (base and scale away from their initial zeros and ones) on random streams, in two
                     settings: each case's inputs, weights, outputs (the collapsed input, post, comb, the
                     new streams after a given sublayer output, the head's collapse) and the gradients
                     autograd gives of a random probe of those outputs

Regenerate (after `swift build -c release --product grpo`), with a Python that has torch,
transformers and tokenizers (--only mla: the MLA four alone; --only hc: hc.json alone, which needs
no grpo binary):
    $PY Tests/PolicyTests/Fixtures/huggingface/make_fixtures.py .build/release/grpo [--only mla|hc]
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Pre-tokenizer split patterns of three tokenizer families.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
DEEPSEEK_PATTERNS = [r"\p{N}{1,3}", r"[一-龥぀-ゟ゠-ヿ]+",
                     r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"
                     r"| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"]


def corpus(extra_random=0, seed=0):
    """Texts with unicode, emoji, whitespace runs, digits and special-token look-alikes."""
    texts = [
        "Hello, world! It's a test; we'll see what they've done.",
        "The year 2024 had 366 days, and 1234567890 is ten digits; 3.14159 and -42.",
        "  two leading spaces, trailing spaces   ",
        "tabs\tand\t\ttabs, newlines\nand\n\n\nruns, windows\r\nline ends\r\n",
        "Ünïcödé: café, naïve, façade, Straße, ÅÆØ, İstanbul, ǅ",
        "combining: e\u0301 a\u0308 o\u0302 (decomposed) vs é ä ô",
        "Ελληνικά, русский текст, עברית, العربية, हिन्दी, ไทย",
        "中文分词测试，日本語のテキスト、カタカナ、한국어 문장",
        "emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵 ❤️ 🤖",
        "whitespace: a\u00a0b\u2003c\u3000d\u2028e\u0085f \u200bg",
        "code: def f(x):\n    return x**2 + 1  # square\n\nif __name__ == '__main__':\n    print(f(3))",
        "<|endoftext|> in text, and <|pad|> too, <think>reasoning</think> answer",
        "math: 12+7=19, 100*3=300, 2^10=1024, √2≈1.41421, ∑_{i=1}^{n} i",
        "URLs and paths: a/b/c.txt, user@example.org, C:\\Windows\\System32",
        "",
        " ",
        "\n",
        "a",
        "'s 're 'VE 'Ll",
        "mixed123numbers456and789letters 0x1F 1e-5 1,000,000",
        "repeated: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!!!!!!!!!!!!!!!??????",
        "                                                                    wide gap",
    ]
    if extra_random:
        import random
        rng = random.Random(seed)
        alphabet = ("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?'\"()[]{}<>-_=+*/\\ \t\n"
                    "éàüßøñ 中文日本語한국어 😀👍🏽🇫🇷 ∑√≈ \u00a0\u3000")
        for _ in range(extra_random):
            n = rng.randint(1, 200)
            texts.append("".join(rng.choice(alphabet) for _ in range(n)))
    return texts


def training_text():
    return corpus() * 3 + [
        "The quick brown fox jumps over the lazy dog. " * 5,
        "def function(argument):\n    return argument + 1\n" * 5,
        "1 2 3 4 5 6 7 8 9 10 11 12 100 1000 10000 123456 " * 5,
        "Arithmetic: 12+7=19. 48/6=8. 15*15=225. 1000-1=999. " * 5,
    ]


def train_tokenizer(style, vocab_size=600):
    """A byte-level BPE in the style of GPT-2, Llama-3 (NFC, ignore_merges, added tokens with
    lstrip/rstrip) or DeepSeek-V3 (a sequence of splits)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if style == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        specials = ["<|endoftext|>", "<|pad|>"]
    elif style == "llama3":
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"), byte_level])
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"]
    elif style == "deepseek":
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(p), behavior="isolated") for p in DEEPSEEK_PATTERNS] + [byte_level])
        specials = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<|pad|>"]
    else:
        raise SystemExit(f"unknown style {style}")
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(training_text(), trainer=trainer)
    if style == "llama3":
        tok.add_tokens([AddedToken("<think>", lstrip=True, rstrip=False, normalized=False),
                        AddedToken("</think>", lstrip=False, rstrip=True, normalized=False),
                        AddedToken("answer", normalized=True)])
        spec = json.loads(tok.to_str())
        spec["model"]["ignore_merges"] = True
        tok = Tokenizer.from_str(json.dumps(spec))
    return tok


def tokenizer_cases(tokenizers_by_name, texts):
    out = {"texts": texts, "tokenizers": {}}
    for name, tok in tokenizers_by_name.items():
        ids = [tok.encode(t, add_special_tokens=False).ids for t in texts]
        out["tokenizers"][name] = {"ids": ids, "decoded": [tok.decode(i, skip_special_tokens=True) for i in ids]}
    return out


def fast_tokenizer(tok, bos, eos, pad, max_length):
    from transformers import PreTrainedTokenizerFast
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad,
                                   model_max_length=max_length, clean_up_tokenization_spaces=False)


def spread(model, scale):
    """Weights `scale` times larger than at initialisation, norms around 1 and a non-zero selection bias:
    every path then changes the logits visibly."""
    import torch
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.mul_(scale)
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(0.1 * torch.randn_like(b))
    return model


def random_glm4moe(vocab_size, bos, eos, pad, hidden=32, layers=2, heads=8, kv_heads=2, head_dim=4, experts=4,
                   intermediate=16, top_k=2, max_positions=256, seed=0, scale=8.0):
    """A random Glm4MoeForCausalLM in the policy's family, its weights drawn larger than at
    initialisation (and a non-zero selection bias) so that every path changes the logits."""
    import torch
    from transformers import Glm4MoeConfig, Glm4MoeForCausalLM

    cfg = Glm4MoeConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate, moe_intermediate_size=intermediate,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
        n_routed_experts=experts, n_shared_experts=1, num_experts_per_tok=top_k, first_k_dense_replace=0,
        n_group=1, topk_group=1, norm_topk_prob=True, routed_scaling_factor=2.5, use_qk_norm=False,
        attention_bias=False, num_nextn_predict_layers=0, max_position_embeddings=max_positions,
        rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 1.0})
    torch.manual_seed(seed)
    return spread(Glm4MoeForCausalLM(cfg).eval(), scale)


def random_deepseek_v3(vocab_size=259, bos=257, eos=258, pad=256, hidden=32, layers=2, heads=4, q_lora_rank=12,
                       kv_lora_rank=16, nope=4, rope=4, value=6, experts=4, intermediate=16, top_k=2,
                       max_positions=256, seed=0, scale=4.0):
    """A random DeepseekV3ForCausalLM (multi-head latent attention) in the policy's family, weights drawn
    larger than at initialisation and a non-zero selection bias, as random_glm4moe. Value heads are wider
    than the query/key heads' parts, so that a mixed-up width cannot pass."""
    import torch
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

    cfg = DeepseekV3Config(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=intermediate,
        moe_intermediate_size=intermediate, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=heads, n_shared_experts=1, n_routed_experts=experts, routed_scaling_factor=2.5,
        kv_lora_rank=kv_lora_rank, q_lora_rank=q_lora_rank, qk_rope_head_dim=rope, v_head_dim=value,
        qk_nope_head_dim=nope, n_group=1, topk_group=1, num_experts_per_tok=top_k, first_k_dense_replace=0,
        norm_topk_prob=True, max_position_embeddings=max_positions, rms_norm_eps=1e-6, tie_word_embeddings=False,
        bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, rope_interleave=True, num_mtp_layers=0,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    torch.manual_seed(seed)
    return spread(DeepseekV3ForCausalLM(cfg).eval(), scale)


def mla_fixtures(grpo):
    """deepseekv3-mla (+ .json) and export-mla (+ .json)."""
    import tempfile
    import torch
    from transformers import AutoModelForCausalLM
    model = random_deepseek_v3(seed=2)
    target = os.path.join(HERE, "deepseekv3-mla")
    shutil.rmtree(target, ignore_errors=True)
    model.save_pretrained(target)
    loaded = AutoModelForCausalLM.from_pretrained(target, dtype=torch.float32).eval()
    sequences = [[257] + list(t.encode()) for t in ["Hello, world!", "12+7=", "caf\u00e9 \U0001f600 x"]]
    reference = logits_of(loaded, sequences)
    json.dump({"sequences": sequences, "logits": reference, "greedy": greedy(loaded, sequences, 12)},
              open(os.path.join(HERE, "deepseekv3-mla.json"), "w"))

    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = os.path.join(tmp, "imported")
        subprocess.run([grpo, "import", "--from", target, "--out", checkpoint], check=True)
        exported_dir = os.path.join(HERE, "export-mla")
        shutil.rmtree(exported_dir, ignore_errors=True)
        subprocess.run([grpo, "export", "--model", checkpoint, "--out", exported_dir], check=True)
    exported = AutoModelForCausalLM.from_pretrained(exported_dir).eval()
    theirs = logits_of(exported, sequences)
    worst = max(abs(a - b) for s1, s2 in zip(theirs, reference) for r1, r2 in zip(s1, s2) for a, b in zip(r1, r2))
    assert worst < 1e-4, f"the export of the import gives other logits ({worst})"
    json.dump({"sequences": sequences, "logits": theirs}, open(os.path.join(HERE, "export-mla.json"), "w"))


def hc_fixtures():
    """hc.json: DeepseekV4HyperConnection and DeepseekV4HyperHead against the Swift HyperConnection."""
    import torch
    from transformers.models.deepseek_v4.configuration_deepseek_v4 import DeepseekV4Config
    from transformers.models.deepseek_v4.modeling_deepseek_v4 import (DeepseekV4HyperConnection,
                                                                      DeepseekV4HyperHead)
    torch.manual_seed(3)
    cases = []
    # transformers' defaults (20 Sinkhorn-Knopp iterations, eps 1e-6), then few iterations and a coarse eps
    # whose every placement shows in the outputs.
    for streams, width, iters, eps, rows in [(4, 8, 20, 1e-6, 5), (3, 6, 3, 0.01, 4)]:
        config = DeepseekV4Config(hidden_size=width, hc_mult=streams, hc_sinkhorn_iters=iters, hc_eps=eps,
                                  rms_norm_eps=1e-6)
        hc = DeepseekV4HyperConnection(config)
        head = DeepseekV4HyperHead(config)
        with torch.no_grad():
            hc.fn.normal_(0, 0.3)
            hc.base.normal_(0, 0.5)
            hc.scale.copy_(torch.tensor([0.8, 1.3, 1.7]))
            head.hc_fn.normal_(0, 0.3)
            head.hc_base.normal_(0, 0.5)
            head.hc_scale.fill_(1.2)
        x = torch.randn(1, rows, streams, width, requires_grad=True)
        y = torch.randn(1, rows, width, requires_grad=True)
        post, comb, collapsed = hc(x)
        # The decoder layer's merge, as DeepseekV4DecoderLayer writes it.
        streams_out = post.unsqueeze(-1) * y.unsqueeze(-2) + torch.matmul(comb.transpose(-1, -2), x)
        head_out = head(x)
        probes = [torch.randn_like(t) for t in (collapsed, streams_out, head_out)]
        loss = sum((p * t).sum() for p, t in zip(probes, (collapsed, streams_out, head_out)))
        loss.backward()

        def flat(t):
            return t.detach().reshape(-1).tolist()
        cases.append({
            "streams": streams, "width": width, "sinkhorn_iters": iters, "eps": eps, "rms_norm_eps": 1e-6,
            "rows": rows, "x": flat(x), "y": flat(y),
            "fn": flat(hc.fn), "base": flat(hc.base), "scale": flat(hc.scale),
            "head_fn": flat(head.hc_fn), "head_base": flat(head.hc_base), "head_scale": flat(head.hc_scale),
            "collapsed": flat(collapsed), "post": flat(post), "comb": flat(comb), "streams_out": flat(streams_out),
            "head_out": flat(head_out),
            "probe_collapsed": flat(probes[0]), "probe_streams": flat(probes[1]), "probe_head": flat(probes[2]),
            "grad_x": flat(x.grad), "grad_y": flat(y.grad), "grad_fn": flat(hc.fn.grad),
            "grad_base": flat(hc.base.grad), "grad_scale": flat(hc.scale.grad), "grad_head_fn": flat(head.hc_fn.grad),
            "grad_head_base": flat(head.hc_base.grad), "grad_head_scale": flat(head.hc_scale.grad),
        })
    json.dump({"cases": cases}, open(os.path.join(HERE, "hc.json"), "w"))


def logits_of(model, sequences):
    import torch
    with torch.no_grad():
        return [model(torch.tensor([s])).logits[0].double().tolist() for s in sequences]


def greedy(model, sequences, new_tokens):
    import torch
    out = []
    with torch.no_grad():
        for s in sequences:
            g = model.generate(torch.tensor([s]), max_new_tokens=new_tokens, do_sample=False)
            out.append(g[0, len(s):].tolist())
    return out


def main(grpo, only=None):
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(2)
    if only == "mla":
        mla_fixtures(grpo)
        return
    if only == "hc":
        hc_fixtures()
        return

    bpe_dir = os.path.join(HERE, "bpe")
    os.makedirs(bpe_dir, exist_ok=True)
    toks = {style: train_tokenizer(style) for style in ["gpt2", "llama3", "deepseek"]}
    for style, tok in toks.items():
        tok.save(os.path.join(bpe_dir, f"{style}.json"))
    json.dump(tokenizer_cases(toks, corpus()), open(os.path.join(bpe_dir, "cases.json"), "w"), ensure_ascii=False)

    # An imported model: transformers-made, grouped-query attention, bfloat16 shards, its own BPE.
    tok = toks["llama3"]
    bos, eos, pad = (tok.token_to_id(t) for t in ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"])
    model = random_glm4moe(tok.get_vocab_size(), bos, eos, pad, seed=1)
    target = os.path.join(HERE, "glm4moe-gqa")
    shutil.rmtree(target, ignore_errors=True)
    model.to(torch.bfloat16).save_pretrained(target, max_shard_size="60KB")
    fast_tokenizer(tok, "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", 256).save_pretrained(target)
    loaded = AutoModelForCausalLM.from_pretrained(target, dtype=torch.float32).eval()
    prompts = ["Hello, world!", "12+7=", "中文 😀 café"]
    sequences = [[bos] + tok.encode(p, add_special_tokens=False).ids for p in prompts]
    json.dump({"prompts": prompts, "sequences": sequences, "logits": logits_of(loaded, sequences),
               "greedy": greedy(loaded, sequences, 12)},
              open(os.path.join(HERE, "glm4moe-gqa.json"), "w"))

    # An exported model: the NumPy reference's toy checkpoint through `grpo export`.
    target = os.path.join(HERE, "export-toy")
    subprocess.run([grpo, "export", "--model", os.path.join(HERE, "..", "toy-model"), "--out", target], check=True)
    exported = AutoModelForCausalLM.from_pretrained(target).eval()
    sequences = [[257, 49, 50, 43, 55, 61], [257] + list("hello, world".encode()), [258, 256, 0, 255, 128]]
    json.dump({"sequences": sequences, "logits": logits_of(exported, sequences)},
              open(os.path.join(HERE, "export-toy.json"), "w"))
    mla_fixtures(grpo)
    hc_fixtures()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--only" else None)
